"""Fixtures that run the real daemon on a temporary mount against loopback fakes.

Every mount made here is unmounted at teardown, whatever the test did."""
import errno
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from fake_openai import FakeOpenAI  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BINARY = os.environ.get("CIDCACHE_BIN", os.path.join(REPO, ".build", "debug", "cidcache"))
TEST_KEY = "sk-test-not-a-real-key-0001"
MOUNTS = set()


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


def pytest_sessionstart(session):
    if not os.access(BINARY, os.X_OK):
        raise pytest.UsageError(f"the cidcache binary is missing at {BINARY}: run ./test (it builds it first)")


def pytest_sessionfinish(session, exitstatus):
    for path in list(MOUNTS):
        force_unmount(path)


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

    def start(self):
        with open(self.config_path, "w") as f:
            json.dump(self.config, f)
        self.log = open(os.path.join(self.root, "daemon.out"), "ab")
        self.process = subprocess.Popen(
            [BINARY, "mount", self.path, "--data-dir", self.data, "--config", self.config_path, "--foreground"],
            env=self.env, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        MOUNTS.add(self.path)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"daemon exited with {self.process.returncode}: {self.daemon_output()}")
            if is_mounted(self.path) and answers(self.path):
                return self
            time.sleep(0.05)
        raise RuntimeError("the mount did not come up: " + self.daemon_output())

    def daemon_output(self):
        with open(os.path.join(self.root, "daemon.out"), "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        force_unmount(self.path)
        return self.process.returncode if self.process else None

    def p(self, *parts):
        return os.path.join(self.path, *parts)

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
    for mount in made:
        mount.stop()


@pytest.fixture
def mount(make_mount):
    m = make_mount().start()
    yield m
    # The daemon must have survived whatever the test did.
    assert m.process.poll() is None, "the daemon died: " + m.daemon_output()
    assert os.path.exists(m.p("README"))


def chat(content="hi", temperature=0, model="gpt-4o-mini", **extra):
    return {"model": model, "messages": [{"role": "user", "content": content}], "temperature": temperature, **extra}
