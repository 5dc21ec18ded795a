"""What every part of the benchmark shares: paths, constants, small helpers, and
the processes it runs (cidcache mounts, the FUSE floors, Redis, a payload server)."""
import base64
import hashlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
OUT = os.path.join(HERE, "out")
sys.path.insert(0, os.path.join(REPO, "Tests", "Mount"))
from fake_openai import FakeOpenAI  # noqa: E402,F401  (the parts take it from here, after the path above)

BINARY = os.environ.get("CIDCACHE_BIN", os.path.join(REPO, ".build", "release", "cidcache"))
CLIENT = os.path.join(OUT, "client")
HELLO = os.path.join(OUT, "hello_ll")
QUERY_FLOOR = os.path.join(OUT, "query_ll")
KEY = "sk-bench-not-a-real-key-0001"
OP_DIR = ("api", "openai", "chat.completions")
OPCODES = {1: "LOOKUP", 2: "FORGET", 3: "GETATTR", 4: "SETATTR", 14: "OPEN", 15: "READ", 16: "WRITE",
           17: "STATFS", 18: "RELEASE", 22: "GETXATTR", 23: "LISTXATTR", 25: "FLUSH", 27: "OPENDIR",
           28: "READDIR", 29: "RELEASEDIR", 36: "INTERRUPT", 39: "IOCTL", 40: "POLL", 42: "BATCH_FORGET",
           44: "READDIRPLUS", 46: "LSEEK"}


def log(*parts):
    print("bench:", *parts, file=sys.stderr, flush=True)


def chat(content):
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}], "temperature": 0}


def request_cid(namespace, op, request):
    """docs/REFERENCE.md §1 for plain ASCII requests: JCS is sorted keys, no spaces."""
    document = json.dumps({"namespace": namespace, "op": op, "request": request}, sort_keys=True,
                          separators=(",", ":"), ensure_ascii=False).encode()
    raw = bytes([1, 0x80, 0x04, 0x12, 0x20]) + hashlib.sha256(document).digest()
    return "b" + base64.b32encode(raw).decode().lower().rstrip("=")


def percentiles(samples_ns):
    ordered = sorted(samples_ns)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000.0  # noqa: E731
    return {"p50_us": round(pick(0.50), 2), "p99_us": round(pick(0.99), 2),
            "mean_us": round(statistics.fmean(ordered) / 1000.0, 2), "n": len(ordered)}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def is_mounted(path):
    with open("/proc/self/mountinfo") as table:
        return any(line.split()[4] == path for line in table)


def force_unmount(path):
    for command in (["fusermount3", "-u", "-z", path], ["umount", "-l", path]):
        if is_mounted(path):
            subprocess.run(command, capture_output=True)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        fields = dict(line.split(":", 1) for line in f if ":" in line)
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


# ---------------------------------------------------------------- processes

class CidMount:
    """A release daemon in the foreground on a mountpoint of its own."""

    def __init__(self, root, fake_url, binary=BINARY, config=None, env=None):
        self.root = root
        self.binary = binary
        self.path = os.path.join(root, "mnt")
        self.data = os.path.join(root, "data")
        self.config = os.path.join(root, "config.json")
        os.makedirs(self.path, exist_ok=True)
        with open(self.config, "w") as f:
            # No per-minute budget and a wide pool: the bench fills stores through the mount.
            # No eviction either: the largest store must keep every entry.
            json.dump({"upstream_retries": 0, "upstream_timeout_s": 30, "disk_budget_bytes": 200 << 30,
                       "limits": {"openai": {"concurrent": 64, "per_minute": None}}, **(config or {})}, f)
        self.env = dict(os.environ, CIDCACHE_OPENAI_URL=fake_url, CIDCACHE_OPENAI_KEY=KEY,
                        XDG_CACHE_HOME=os.path.join(root, "xdg"), **(env or {}))
        self.process = None

    def p(self, *parts):
        return os.path.join(self.path, *parts)

    def start(self):
        """Starts the daemon; the seconds from launch to README answering."""
        self.log = open(os.path.join(self.root, "daemon.out"), "ab")
        readme = self.p("README")
        started = time.perf_counter()
        self.process = subprocess.Popen(
            [self.binary, "mount", self.path, "--data-dir", self.data, "--config", self.config, "--foreground"],
            env=self.env, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = started + 60
        while time.perf_counter() < deadline:
            try:
                fd = os.open(readme, os.O_RDONLY)
                os.read(fd, 1)
                os.close(fd)
                return time.perf_counter() - started
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError("the daemon exited: " + open(os.path.join(self.root, "daemon.out")).read())
                time.sleep(0.002)
        raise RuntimeError("the mount did not come up")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        force_unmount(self.path)

    def query(self, request):
        fd = os.open(self.p(*OP_DIR, "query"), os.O_RDWR)
        try:
            os.write(fd, json.dumps(request).encode())
            out = b""
            while True:
                chunk = os.read(fd, 65536)
                if not chunk:
                    return out
                out += chunk
        finally:
            os.close(fd)


class FloorMount:
    """A minimal C filesystem built by bench/run: libfuse's hello_ll example
    (patched), the one-round-trip floor of a file, or bench/query_ll.c, the
    floor of a file that answers a write (a query transaction's round trips)."""

    def __init__(self, root, name, command, file):
        self.path = os.path.join(root, name)
        os.makedirs(self.path, exist_ok=True)
        self.command = command
        self.file = os.path.join(self.path, file)
        self.process = None

    def start(self):
        self.process = subprocess.Popen(self.command + ["-f", self.path], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = time.time() + 20
        while time.time() < deadline:
            if os.path.exists(self.file):
                return self
            time.sleep(0.01)
        raise RuntimeError(f"{self.command[0]} did not mount")

    def stop(self):
        if self.process is None:
            return
        force_unmount(self.path)
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()


class Redis:
    def __init__(self, root):
        self.port = free_port()
        self.process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--dir", root, "--daemonize", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


class PayloadServer:
    """A loopback HTTP server answering GET with the payload (requests-cache's upstream)."""

    def __init__(self, payload):
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/answer"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
