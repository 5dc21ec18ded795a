"""Fixtures that run the real daemon on a temporary mount against loopback fakes.

Every mount made here is unmounted at teardown, whatever the test did, and
every test runs under a deadline (60 s, CIDCACHE_TEST_DEADLINE, or
`@pytest.mark.deadline(seconds)`): past it the test fails, and a file
operation still blocked on a daemon is ended by killing that daemon, so a
broken daemon fails tests instead of hanging the suite.

Fixtures:
  fake        a FakeOpenAI on 127.0.0.1 (fake.url is its /v1 base)
  infra       a FakeInfra on 127.0.0.1 (hf, github, codeql and ipfs wire formats)
  make_mount  make_mount(**config) -> Mount (not started; .start() it); the
              environment points openai, groq and vllm at the fake
  mount       a started Mount with the default config (alias: mounted); at
              teardown the daemon must still be alive and serving README
"""
import errno
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from fake_infra_http import FakeInfra  # noqa: E402
from fake_openai import FakeOpenAI  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# ./test's build, shared with ./mount (scripts/swift-build).
BINARY = os.environ.get("CIDCACHE_BIN", os.path.join(REPO, ".build", "release", "cidcache"))
TEST_KEY = "sk-test-not-a-real-key-0001"
MOUNTS = set()
LIVE = set()  # Mount objects whose daemon may be running
DEADLINE_S = float(os.environ.get("CIDCACHE_TEST_DEADLINE", "60"))
READY_S = 20
GRACE_S = 3


def is_mounted(path):
    with open("/proc/self/mountinfo") as table:
        return any(line.split()[4] == path for line in table)


def answers(path):
    """Whether a live daemon serves path (statfs always reaches it; stat may be cached)."""
    try:
        os.statvfs(path)
        return True
    except OSError:
        return False


def force_unmount(path):
    if is_mounted(path):
        subprocess.run(["fusermount3", "-u", "-z", path], capture_output=True)
    if is_mounted(path):
        subprocess.run(["umount", "-l", path], capture_output=True)


def pytest_configure(config):
    config.addinivalue_line("markers", "deadline(seconds): fail the test (killing its daemons) past this time")


def pytest_sessionstart(session):
    if not os.access(BINARY, os.X_OK):
        raise pytest.UsageError(f"the cidcache binary is missing at {BINARY} (set CIDCACHE_BIN, "
                                "or build it: scripts/swift-build --product cidcache; ./test builds it first)")


def pytest_sessionfinish(session, exitstatus):
    for mount in list(LIVE):
        mount.kill()
    for path in list(MOUNTS):
        force_unmount(path)


class DeadlineExceeded(Exception):
    pass


@pytest.fixture(autouse=True)
def deadline(request):
    """Bounds every test. At the deadline a watchdog thread sends SIGALRM,
    whose handler raises DeadlineExceeded in the main thread (this ends a
    Python-level wait, or a read the daemon lets be interrupted). If the test
    and its teardown are still not done GRACE_S later (a read stuck on a
    daemon that no longer answers), the watchdog kills the test's daemons,
    which fails every request pending on their mounts with ENOTCONN."""
    marker = request.node.get_closest_marker("deadline")
    seconds = float(marker.args[0]) if marker else DEADLINE_S
    before = set(LIVE)
    done = threading.Event()
    raised = []

    def on_alarm(signum, frame):
        if done.is_set() or raised:
            return
        raised.append(True)
        raise DeadlineExceeded(f"{request.node.nodeid} ran past its deadline of {seconds:g} s")

    def expire():
        if done.is_set():
            return
        os.kill(os.getpid(), signal.SIGALRM)
        if not done.wait(GRACE_S):
            for mount in list(LIVE - before):
                mount.kill()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    watchdog = threading.Timer(seconds, expire)
    watchdog.daemon = True
    watchdog.start()
    try:
        yield
    finally:
        done.set()
        watchdog.cancel()
        signal.signal(signal.SIGALRM, previous)


class Mount:
    """A running daemon: paths, a query helper, and start/stop controls."""

    def __init__(self, root, env, config):
        self.root = root
        self.data = os.path.join(root, "data")
        self.path = os.path.join(root, "mnt")
        self.config_path = os.path.join(root, "config.json")
        os.makedirs(self.path, exist_ok=True)
        self.env = env
        self.config = config
        self.process = None

    def start(self, *arguments):
        """Starts the daemon (`arguments` go after the mount's own, e.g. "--http", ADDRESS)."""
        with open(self.config_path, "w") as f:
            json.dump(self.config, f)
        self.log = open(os.path.join(self.root, "daemon.out"), "ab")
        self.process = subprocess.Popen(
            [BINARY, "mount", self.path, "--data-dir", self.data, "--config", self.config_path, "--foreground",
             *arguments],
            env=self.env, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        MOUNTS.add(self.path)
        LIVE.add(self)
        deadline = time.time() + READY_S
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"daemon exited with {self.process.returncode}: {self.daemon_output()}")
            if is_mounted(self.path) and answers(self.path) and os.path.exists(self.p("README")):
                return self
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"the mount did not come up in {READY_S} s: " + self.daemon_output())

    def daemon_output(self):
        with open(os.path.join(self.root, "daemon.out"), "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Ends the daemon (sig, then SIGKILL after timeout s) and makes sure
        nothing stays mounted; the daemon's exit code."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        force_unmount(self.path)
        LIVE.discard(self)
        return self.process.returncode if self.process else None

    def kill(self):
        """SIGKILL: every request pending on the mount fails at once (ENOTCONN)."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        force_unmount(self.path)
        LIVE.discard(self)

    def running(self):
        return self.process is not None and self.process.poll() is None

    def healthy(self):
        """The daemon is alive and still serves its README."""
        try:
            return self.running() and len(self.read("README")) > 0
        except OSError:
            return False

    def p(self, *parts):
        return os.path.join(self.path, *parts)

    def entry(self, namespace, op, request):
        """The path of the entry a request (a dict) is cached under."""
        from cidlib import request_cid
        return self.p("api", namespace, op, request_cid(namespace, op, request))

    def query(self, namespace, op, request, chunk=65536):
        """One transaction on a query file: the answer's bytes, or OSError."""
        body = request if isinstance(request, bytes) else json.dumps(request).encode()
        fd = os.open(self.p("api", namespace, op, "query"), os.O_RDWR)
        try:
            os.write(fd, body)
            out = b""
            while True:
                data = os.read(fd, chunk)
                if not data:
                    return out
                out += data
        finally:
            os.close(fd)

    def query_errno(self, namespace, op, request):
        try:
            self.query(namespace, op, request)
        except OSError as error:
            return errno.errorcode[error.errno]
        return None

    def read(self, *parts):
        with open(self.p(*parts), "rb") as f:
            return f.read()

    def json_lines(self, name):
        return [json.loads(line) for line in self.read(name).decode().splitlines() if line.strip()]

    def stats(self, name="all.json"):
        return json.loads(self.read("stats", name))

    def cli(self, *args, stdin=b"", check=True):
        result = subprocess.run([BINARY, *args, "--data-dir", self.data], input=stdin, env=self.env,
                                capture_output=True, timeout=60)
        if check and result.returncode != 0:
            raise AssertionError(f"cidcache {' '.join(args)} failed: {result.stderr.decode()}")
        return result


@pytest.fixture
def fake():
    server = FakeOpenAI(TEST_KEY)
    yield server
    server.stop()


@pytest.fixture
def infra():
    server = FakeInfra()
    yield server
    server.stop()


@pytest.fixture
def make_mount(fake):
    """Builds mounts on temporary folders (config overrides as keyword arguments)."""
    made = []

    def make(**config):
        root = tempfile.mkdtemp(prefix="cidcache-test-")
        env = dict(os.environ)
        env.update({"CIDCACHE_OPENAI_URL": fake.url, "CIDCACHE_OPENAI_KEY": TEST_KEY,
                    "CIDCACHE_GROQ_URL": fake.url, "CIDCACHE_GROQ_KEY": TEST_KEY,
                    "CIDCACHE_VLLM_URL": fake.url, "CIDCACHE_VLLM_KEY": TEST_KEY, "XDG_CACHE_HOME": os.path.join(root, "xdg")})
        # No retries unless a test asks: each failure reaches the reader at once.
        mount = Mount(root, env, {"upstream_timeout_s": 5, "upstream_retries": 0, **config})
        made.append(mount)
        return mount

    yield make
    dead = [m.daemon_output()[-2000:] for m in made if m.process and m.running() and not m.healthy()]
    for mount in made:
        mount.stop()
    assert not dead, "a daemon stopped serving its mount: " + "\n---\n".join(dead)


@pytest.fixture
def mount(make_mount):
    m = make_mount().start()
    yield m
    # The daemon must have survived whatever the test did.
    assert m.process.poll() is None, "the daemon died: " + m.daemon_output()
    assert m.healthy()


@pytest.fixture
def mounted(mount):
    return mount


def chat(content="hi", temperature=0, model="gpt-4o-mini", **extra):
    return {"model": model, "messages": [{"role": "user", "content": content}], "temperature": temperature, **extra}
