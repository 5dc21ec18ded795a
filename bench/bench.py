"""The cidcache benchmark: run by bench/run, which builds what it needs first.

Everything is measured in one run on this machine: the FUSE floor (libfuse's
hello_ll, patched for keep_cache and long timeouts), cidcache hits from Python
and C, plain files on disk and tmpfs, the caches users would pick instead
(diskcache, GPTCache, requests-cache, Redis), the miss overhead against a
loopback fake of OpenAI, and stores of growing size. Prints a table, writes
bench/out/results.json and bench/out/latency.png.
"""
import argparse
import array
import base64
import gc
import hashlib
import http.client
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
OUT = os.path.join(HERE, "out")
sys.path.insert(0, os.path.join(REPO, "Tests", "Mount"))
from fake_openai import FakeOpenAI  # noqa: E402

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


# ---------------------------------------------------------------- timing

def time_loop(n, body, warm=None):
    """Per-call latencies (ns) of body(), after a warm-up, with the GC off."""
    for _ in range(warm if warm is not None else n // 20 + 1):
        body()
    samples = array.array("Q", bytes(8 * n))
    clock = time.perf_counter_ns
    gc.disable()
    try:
        for i in range(n):
            t = clock()
            body()
            samples[i] = clock() - t
    finally:
        gc.enable()
    return list(samples)


def time_interleaved(n, bodies, rounds=10):
    """time_loop for several bodies taken in turns, n/rounds calls each a turn,
    so a change in the machine's load weighs on every row alike."""
    for _, body in bodies:
        time_loop(n // 20 + 1, body, warm=0)
    samples = {name: [] for name, _ in bodies}
    for _ in range(rounds):
        for name, body in bodies:
            samples[name] += time_loop(n // rounds, body, warm=0)
    return samples


PIN_CPU = 0


class pinned:
    """Runs the bench and the given server processes (all their threads) on one
    CPU while latencies are taken. On two vCPUs, whether a client and the
    server thread that answers it share a CPU swings one call between ~20 and
    ~45 us (a wake-up across CPUs): pinned, every method pays the same
    hand-off and the runs agree to a few percent."""

    def __init__(self, *pids):
        self.pids = [pid for pid in pids if pid]

    def __enter__(self):
        self.before = os.sched_getaffinity(0)
        for pid in self.pids:
            subprocess.run(["taskset", "-a", "-p", "-c", str(PIN_CPU), str(pid)], check=True, stdout=subprocess.DEVNULL)
        os.sched_setaffinity(0, {PIN_CPU})
        return self

    def __exit__(self, *exc):
        every = ",".join(str(cpu) for cpu in range(os.cpu_count()))
        for pid in self.pids:
            subprocess.run(["taskset", "-a", "-p", "-c", every, str(pid)], stdout=subprocess.DEVNULL)
        os.sched_setaffinity(0, self.before)


def py_read(path):
    def body():
        fd = os.open(path, os.O_RDONLY)
        while os.read(fd, 65536):
            pass
        os.close(fd)
    return body


def py_builtin_read(path):
    def body():
        with open(path, "rb") as f:
            f.read()
    return body


def py_query(path, request):
    def body():
        fd = os.open(path, os.O_RDWR)
        os.write(fd, request)
        while os.read(fd, 65536):
            pass
        os.close(fd)
    return body


def py_query_one_read(path, request):
    """A transaction whose reader takes the answer in one read (a buffer larger
    than the answer) and closes without reading EOF: OPEN, WRITE, READ."""
    def body():
        fd = os.open(path, os.O_RDWR)
        os.write(fd, request)
        assert os.read(fd, 65536)
        os.close(fd)
    return body


def c_samples(*args):
    out = os.path.join(OUT, "samples.bin")
    subprocess.run([CLIENT, *args[:1], out, *args[1:]], check=True)
    data = array.array("I")
    with open(out, "rb") as f:
        data.frombytes(f.read())
    os.unlink(out)
    return list(data)


def c_interleaved(n, runs, rounds=10):
    """c_samples for several client runs taken in turns (see time_interleaved)."""
    samples = {name: [] for name, _ in runs}
    for _ in range(rounds):
        for name, args in runs:
            samples[name] += c_samples(args[0], str(n // rounds), *args[1:])
    return samples


def c_throughput(path, threads, seconds):
    result = subprocess.run([CLIENT, "tput", str(seconds), str(threads), path], check=True,
                            capture_output=True, text=True)
    rate, failures = result.stdout.split()
    if int(failures):
        raise RuntimeError(f"{failures} failed reads of {path}")
    return float(rate)


# ---------------------------------------------------------------- round trips

def fuse_fd(pid):
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == "/dev/fuse":
                return int(fd)
        except OSError:
            pass
    return None


def count_round_trips(pid, action, repeats):
    """FUSE requests the daemon reads from /dev/fuse per action (strace on the daemon)."""
    if not shutil.which("strace"):
        return None
    fd = fuse_fd(pid)
    trace = os.path.join(OUT, "strace.txt")
    action()
    action()
    tracer = subprocess.Popen(["strace", "-f", "-xx", "-s", "8", "-e", "trace=read", "-o", trace, "-p", str(pid)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # strace says "Process N attached" on stderr once per thread: wait for the first.
    tracer.stderr.readline()
    time.sleep(0.5)
    for _ in range(repeats):
        action()
    time.sleep(0.5)
    tracer.send_signal(signal.SIGINT)
    tracer.wait(timeout=10)
    counts = {}
    pending = {}  # thread id -> fd of its unfinished read
    with open(trace) as f:
        for line in f:
            # "123 read(7, "\x30\x00..."..., 1052672) = 48", or split in two:
            # "123 read(7,  <unfinished ...>" then "123 <... read resumed>"\x30..."..., 1052672) = 48"
            parts = line.split(None, 1)
            if len(parts) < 2:
                continue
            tid, rest = parts
            if rest.startswith("read(") and "<unfinished" in rest:
                pending[tid] = int(rest[5:].split(",", 1)[0])
                continue
            if rest.startswith("read("):
                read_fd = int(rest[5:].split(",", 1)[0])
            elif rest.startswith("<... read resumed>"):
                read_fd = pending.pop(tid, None)
            else:
                continue
            if read_fd != fd or '"' not in rest or rest.rstrip().endswith(("= -1", ")")):
                continue
            raw = rest.split('"', 2)[1]
            data = bytes(int(h, 16) for h in raw.split("\\x")[1:])
            if len(data) < 8:
                continue
            opcode = int.from_bytes(data[4:8], "little")
            name = OPCODES.get(opcode, f"op{opcode}")
            counts[name] = counts.get(name, 0) + 1
    os.unlink(trace)
    per = {name: round(count / repeats, 2) for name, count in sorted(counts.items())}
    per["total"] = round(sum(counts.values()) / repeats, 2)
    return per


# ---------------------------------------------------------------- the parts

def mount_files(mount, request, payload):
    """A cidcache mount's entry file, cid/ file and query file for the request."""
    entry = mount.p(*OP_DIR, request_cid("openai", "chat.completions", request))
    content = os.getxattr(entry, "user.cidcache.cid").decode()
    cid_file = mount.p("cid", content)
    assert open(entry, "rb").read() == payload and open(cid_file, "rb").read() == payload
    return entry, cid_file, mount.p(*OP_DIR, "query")


def measure_hits(results, hello, query_floors, mount, baseline, payload, request, n, seconds, root):
    query_floor, query_floor_mt = query_floors
    entry, cid_file, query_file = mount_files(mount, request, payload)
    body = json.dumps(request).encode()
    disk = os.path.join(root, "payload.json")
    shm = f"/dev/shm/cidcache-bench-{os.getpid()}.json"
    with open(shm, "wb") as f:
        f.write(payload)
    request_file = os.path.join(root, "request.json")
    with open(request_file, "wb") as f:
        f.write(body)

    rows = results["latency"]
    files = [("FUSE floor (hello_ll)", hello.file), ("cidcache entry hit", entry), ("cidcache cid/ file", cid_file),
             ("plain file, local disk", disk), ("plain file, tmpfs", shm)]
    queries = [("FUSE query floor (query_ll)", query_floor.file),
               ("FUSE query floor, MT loop (query_ll --mt)", query_floor_mt.file), ("cidcache query-file hit", query_file)]
    if baseline:
        old_entry, old_cid_file, old_query_file = mount_files(baseline, request, payload)
        files += [("baseline entry hit", old_entry), ("baseline cid/ file", old_cid_file)]
        queries.append(("baseline query-file hit", old_query_file))
    with pinned(hello.process.pid, query_floor.process.pid, query_floor_mt.process.pid, mount.process.pid,
                baseline and baseline.process.pid):
        log("python, interleaved, pinned to cpu", PIN_CPU)
        python = [(name, "os.open+os.read to EOF+os.close", py_read(path)) for name, path in files]
        python += [(name + ", builtin open()", "with open(p,'rb') as f: f.read()", py_builtin_read(path))
                   for name, path in files[:2]]
        python += [(name, "O_RDWR open, write, read to EOF, close", py_query(path, body)) for name, path in queries]
        python += [("cidcache query-file hit, one read", "O_RDWR open, write, one read of up to 64 KiB, close",
                    py_query_one_read(query_file, body))]
        samples = time_interleaved(n, [(name, run) for name, _, run in python])
        rows += [{"method": name, "client": "python", "what": what, "samples": samples[name]} for name, what, _ in python]
        log("c, interleaved")
        c = [(name, "open+read to EOF+close", ["lat", path]) for name, path in files]
        c += [(name, "O_RDWR open, write, read to EOF, close", ["query", path, request_file]) for name, path in queries]
        samples = c_interleaved(n, [(name, args) for name, _, args in c])
        rows += [{"method": name, "client": "c", "what": what, "samples": samples[name]} for name, what, _ in c]

    log("throughput")
    for name, path in [files[0], files[1], files[2], files[4]]:
        for threads in (1, 2, 8):
            results["throughput"].append({"method": name, "threads": threads,
                                          "ops_per_s": round(c_throughput(path, threads, seconds))})

    log("round trips (strace)")
    trips = {}
    for name, pid, action in [
        ("FUSE floor (hello_ll), os.open/read/close", hello.process.pid, py_read(hello.file)),
        ("FUSE query floor (query_ll), open/write/read/close", query_floor.process.pid, py_query(query_floor.file, body)),
        ("entry hit, os.open/read/close", mount.process.pid, py_read(entry)),
        ("entry hit, builtin open()", mount.process.pid, py_builtin_read(entry)),
        ("cid/ file, os.open/read/close", mount.process.pid, py_read(cid_file)),
        ("query-file hit", mount.process.pid, py_query(query_file, body)),
        ("query-file hit, one read", mount.process.pid, py_query_one_read(query_file, body)),
    ]:
        trips[name] = count_round_trips(pid, action, 20)
    results["round_trips"] = trips
    os.unlink(shm)
    return entry


def measure_alternatives(results, payload, n, root):
    rows = results["latency"]
    key = hashlib.sha256(payload).hexdigest()

    log("diskcache")
    import diskcache
    store = diskcache.Cache(os.path.join(root, "diskcache"))
    store.set(key, payload)
    assert store.get(key) == payload
    rows.append({"method": "diskcache Cache.get", "client": "python", "what": "in-process, SQLite + files",
                 "samples": time_loop(n, lambda: store.get(key))})
    store.close()

    log("gptcache")
    from gptcache import cache as gpt
    from gptcache.adapter.api import get as gpt_get, put as gpt_put
    from gptcache.manager import manager_factory
    from gptcache.processor.pre import get_prompt
    gpt.init(pre_embedding_func=get_prompt, data_manager=manager_factory("map", data_dir=os.path.join(OUT, "gptcache")))
    prompt, text = "bench prompt " + key, payload.decode()
    gpt_put(prompt, text)
    assert gpt_get(prompt) == text
    rows.append({"method": "GPTCache exact match (map)", "client": "python", "what": "in-process, adapter.api.get",
                 "samples": time_loop(n, lambda: gpt_get(prompt))})

    log("requests-cache")
    import requests_cache
    server = PayloadServer(payload)
    session = requests_cache.CachedSession(os.path.join(root, "requests-cache"), backend="sqlite", expire_after=3600)
    first = session.get(server.url)
    assert first.content == payload and not first.from_cache
    again = session.get(server.url)
    assert again.from_cache and again.content == payload

    def cached_get():
        response = session.get(server.url)
        response.content
    rows.append({"method": "requests-cache GET (SQLite)", "client": "python", "what": "cached GET of a loopback URL",
                 "samples": time_loop(max(200, n // 10), cached_get)})
    session.close()
    server.stop()

    log("redis")
    import redis
    server = Redis(root)
    try:
        client = redis.Redis(host="127.0.0.1", port=server.port)
        deadline = time.time() + 20
        while True:
            try:
                client.set(key, payload)
                break
            except redis.exceptions.ConnectionError:
                if time.time() > deadline:
                    raise
                time.sleep(0.05)
        assert client.get(key) == payload
        with pinned(server.process.pid):
            rows.append({"method": "Redis GET over loopback", "client": "python", "what": "redis-py, redis-server 127.0.0.1",
                         "samples": time_loop(n, lambda: client.get(key))})
        client.close()
    finally:
        server.stop()


def fast_fake():
    """The loopback fake with TCP_NODELAY on its sockets. As shipped it answers in
    two writes (headers, then body) with Nagle on, and the daemon's connection
    then waits for a delayed ACK (about 40 ms) on most answers."""
    fake = FakeOpenAI(KEY)
    fake.server.RequestHandlerClass.disable_nagle_algorithm = True
    return fake


def measure_miss(results, mount, fake, n, label, baseline=None):
    """A miss through the mount minus the same request sent straight to the fake (p50);
    with a baseline mount, its misses are timed in the same loop (another distinct request each)."""
    log("miss overhead,", label)
    url = fake.url[len("http://"):]
    host, rest = url.split(":", 1)
    port = int(rest.split("/", 1)[0])
    connection = http.client.HTTPConnection(host, port)
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    query_file = mount.p(*OP_DIR, "query")
    through, direct, old = [], [], []
    for i in range(n + 5):
        body = json.dumps(chat(f"miss-{os.getpid()}-{i}")).encode()
        t = time.perf_counter_ns()
        py_query(query_file, body)()
        a = time.perf_counter_ns() - t
        if baseline:
            t = time.perf_counter_ns()
            py_query(baseline.p(*OP_DIR, "query"), json.dumps(chat(f"miss-old-{os.getpid()}-{i}")).encode())()
            if i >= 5:
                old.append(time.perf_counter_ns() - t)
        t = time.perf_counter_ns()
        connection.request("POST", "/v1/chat/completions", body=body, headers=headers)
        # As the daemon does (QuickAck.swift): ACK the answer's first segment at
        # once, or a Nagle server waits ~40 ms for a delayed ACK before its body.
        connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        response = connection.getresponse()
        response.read()
        b = time.perf_counter_ns() - t
        assert response.status == 200
        if i >= 5:
            through.append(a)
            direct.append(b)
    connection.close()
    fake.reset()
    results["latency"].append({"method": f"cidcache miss, {label}", "client": "python",
                               "what": "distinct request through the query file", "samples": through})
    results["latency"].append({"method": f"direct to {label}", "client": "python",
                               "what": "same request, http.client keep-alive", "samples": direct})
    mine, theirs = percentiles(through)["p50_us"], percentiles(direct)["p50_us"]
    results.setdefault("miss", {})[label] = {"through_mount_p50_us": mine, "direct_p50_us": theirs,
                                             "overhead_p50_us": round(mine - theirs, 1)}
    if old:
        results["latency"].append({"method": f"baseline miss, {label}", "client": "python",
                                   "what": "distinct request through the baseline's query file", "samples": old})
        before = percentiles(old)["p50_us"]
        results["miss"][f"{label}, baseline"] = {"through_mount_p50_us": before, "direct_p50_us": theirs,
                                                 "overhead_p50_us": round(before - theirs, 1)}


class SharedMounts:
    """What bench/shared_tier.py needs to make machines: mounts with a config and environment of their own."""

    def __init__(self, root, fake_url):
        self.root, self.fake_url = root, fake_url

    def __call__(self, name, config, env):
        return CidMount(os.path.join(self.root, name), self.fake_url, config=config, env=env)

    def keygen(self, path):
        return subprocess.run([BINARY, "keygen", path], capture_output=True, check=True, text=True).stdout.strip()


def measure_shared_tier(results, fake_url, root, quick):
    from shared_tier import measure_shared
    measure_shared(results, SharedMounts(root, fake_url), chat, py_query, OP_DIR + ("query",), percentiles, log,
                   n=100 if quick else 1000, uploads_n=200 if quick else 2000)


def measure_http(results, fake, root, quick, baseline_binary=None):
    from http_bench import measure_http_front
    floor = os.path.join(os.path.dirname(BINARY), "cidcache-http-floor")
    measure_http_front(results, BINARY, floor, fake, KEY, chat, free_port, percentiles, log, root,
                       n=300 if quick else 5000, baseline_binary=baseline_binary)


def measure_engine(results, sizes, n):
    """The Swift benchmark of the engine in-process (bench/Engine): keying and lookups without FUSE."""
    binary = os.path.join(os.path.dirname(BINARY), "cidcache-bench")
    if not os.path.exists(binary):
        log("engine: no", binary)
        return
    out = os.path.join(OUT, "engine.json")
    subprocess.run([binary, "--sizes", ",".join(map(str, sizes)), "--iterations", str(n), "--json", out], check=True,
                   stdout=subprocess.DEVNULL)
    with open(out) as f:
        results["engine"] = json.load(f)


def measure_scale(results, fake, sizes, samples, root, max_generation_s):
    log("scale:", sizes)
    done = 0
    rate = None
    for size in sizes:
        if rate and size / rate > max_generation_s:
            log(f"skipping {size} entries: generating them would take about {size / rate:.0f} s")
            results["scale"].append({"entries": size, "skipped": f"generation would take about {size / rate:.0f} s"})
            continue
        base = os.path.join(root, f"scale-{size}")
        os.makedirs(base)
        mount = CidMount(base, fake.url)
        try:
            mount.start()
            log(f"generating {size} entries")
            t = time.perf_counter()
            step = 20000
            done = 0
            while done < size:
                count = min(step, size - done)
                out = subprocess.run([CLIENT, "gen", mount.p(*OP_DIR, "query"), str(done), str(count), "16"],
                                     check=True, capture_output=True, text=True).stdout.split()
                if int(out[1]):
                    raise RuntimeError(f"{out[1]} queries failed while filling the store")
                done += count
                fake.reset()  # the fake keeps every call; do not let it grow
                log(f"  {done}/{size} ({done / (time.perf_counter() - t):.0f}/s)")
            generation = time.perf_counter() - t
            rate = size / generation
            rss_fill, hwm_fill = rss_kib(mount.process.pid)
            mount.stop()
            # A fresh daemon on the full store: start time, then cold lookups.
            subprocess.run(["sync"])
            start_s = mount.start()
            rss_start, _ = rss_kib(mount.process.pid)
            picks = random.sample(range(size), min(size, samples))
            listing = os.path.join(base, "paths.txt")
            with open(listing, "w") as f:
                for i in picks:
                    f.write(mount.p(*OP_DIR, request_cid("openai", "chat.completions", chat(f"bench-entry-{i}"))) + "\n")
            cold = c_samples("rand", listing)
            warm = c_samples("rand", listing)
            t = time.perf_counter()
            listed = subprocess.run(["ls", "-U", mount.p(*OP_DIR)], capture_output=True, check=True).stdout.count(b"\n")
            ls_s = time.perf_counter() - t
            t = time.perf_counter()
            subprocess.run(["ls", mount.p(*OP_DIR)], stdout=subprocess.DEVNULL, check=True)
            ls_sorted_s = time.perf_counter() - t
            rss, hwm = rss_kib(mount.process.pid)
            du = int(subprocess.run(["du", "-sk", mount.data], capture_output=True, text=True).stdout.split()[0])
            results["scale"].append({
                "entries": size, "generation_s": round(generation, 1), "generation_per_s": round(rate),
                "mount_start_s": round(start_s, 3), "listed": listed - 1,  # minus `query`
                "ls_U_s": round(ls_s, 3), "ls_s": round(ls_sorted_s, 3),
                "lookup_cold": percentiles(cold), "lookup_warm": percentiles(warm),
                "rss_start_mib": round(rss_start / 1024, 1), "rss_mib": round(rss / 1024, 1),
                "rss_peak_mib": round(hwm / 1024, 1), "rss_after_fill_mib": round(rss_fill / 1024, 1),
                "rss_peak_fill_mib": round(hwm_fill / 1024, 1), "store_kib": du, "bytes_per_entry": round(du * 1024 / size)})
            log("  ", results["scale"][-1])
        finally:
            mount.stop()
            shutil.rmtree(base, ignore_errors=True)


# ---------------------------------------------------------------- output

def summarize(results):
    by = {}
    for row in results["latency"]:
        row.update(percentiles(row["samples"]))
        by[(row["method"], row["client"])] = row
    for row in results["latency"]:
        floor = by.get(("FUSE floor (hello_ll)", row["client"]))
        hit = by.get(("cidcache entry hit", row["client"]))
        row["x_floor"] = round(row["p50_us"] / floor["p50_us"], 2) if floor else None
        row["x_entry_hit"] = round(row["p50_us"] / hit["p50_us"], 2) if hit else None
    return by


def synchronous(counts):
    """Requests a caller waits on: all but RELEASE and FORGET, which the kernel sends without waiting."""
    return round(counts["total"] - sum(counts.get(k, 0) for k in ("RELEASE", "FORGET", "BATCH_FORGET")), 2)


def targets(results, by):
    out = []

    def check(name, met, figure):
        out.append({"target": name, "met": bool(met) if met is not None else None, "figure": figure})

    for client in ("python", "c"):
        hit, floor = by[("cidcache entry hit", client)], by[("FUSE floor (hello_ll)", client)]
        cid = by[("cidcache cid/ file", client)]
        check(f"entry hit within 1.2x FUSE floor ({client})", hit["x_floor"] <= 1.2, f"{hit['x_floor']}x")
        check(f"cid/ file within 1.2x FUSE floor ({client})", cid["x_floor"] <= 1.2, f"{cid['x_floor']}x")
        query, query_floor = by.get(("cidcache query-file hit", client)), by.get(("FUSE query floor (query_ll)", client))
        if query and query_floor:
            ratio = query["p50_us"] / query_floor["p50_us"]
            check(f"query-file hit within 1.5x FUSE query floor ({client})", ratio <= 1.5, f"{ratio:.2f}x")
        query_floor_mt = by.get(("FUSE query floor, MT loop (query_ll --mt)", client))
        if query and query_floor_mt:
            ratio = query["p50_us"] / query_floor_mt["p50_us"]
            check(f"query-file hit within 1.5x the same floor on libfuse's MT loop ({client})", ratio <= 1.5,
                  f"{ratio:.2f}x")
        for name in ("entry hit", "cid/ file", "query-file hit", "HTTP front hit"):
            new, old = by.get((f"cidcache {name}", client)), by.get((f"baseline {name}", client))
            if new and old:
                check(f"{name} no slower than the baseline binary ({client})", new["p50_us"] <= old["p50_us"] * 1.05,
                      f"{new['p50_us'] / old['p50_us']:.2f}x the baseline's p50")
    trips = results.get("round_trips") or {}
    repeat = trips.get("entry hit, os.open/read/close")
    if repeat:
        only_open = repeat.get("OPEN") == 1 and synchronous(repeat) <= 1
        check("repeat hit: one round trip (OPEN), no LOOKUP/GETATTR/FLUSH/IOCTL/READ", only_open,
              ", ".join(f"{k} {v}" for k, v in repeat.items()))
    for name in ("query-file hit", "query-file hit, one read"):
        query = trips.get(name)
        if query:
            check(f"{name} in at most 3 round trips", synchronous(query) <= 3,
                  f"{synchronous(query):g} waited on (" + ", ".join(f"{k} {v}" for k, v in query.items()) + ")")
    hit = by[("cidcache entry hit", "python")]
    for other in ("requests-cache GET (SQLite)", "Redis GET over loopback"):
        row = by.get((other, "python"))
        if row:
            check(f"entry hit faster than {other}", row["p50_us"] > hit["p50_us"], f"{row['x_entry_hit']}x the hit")
    tput = [t for t in results["throughput"] if t["method"] == "cidcache entry hit" and t["threads"] == 8]
    if tput:
        check(">= 50 000 hits/s with 8 C threads", tput[0]["ops_per_s"] >= 50000, f"{tput[0]['ops_per_s']:.0f}/s")
    scale = [s for s in results["scale"] if "skipped" not in s]
    if len(scale) >= 2:
        small, big = scale[0], scale[-1]
        ratio = big["lookup_cold"]["p99_us"] / small["lookup_cold"]["p99_us"]
        check(f"lookup p99 at {big['entries']} within 2x of {small['entries']} (target: 1 000 000 vs 1 000)",
              ratio <= 2, f"{ratio:.2f}x")
    if scale:
        big = scale[-1]
        worst_rss = max(big["rss_mib"], big["rss_after_fill_mib"])
        check(f"RSS under 150 MB (at {big['entries']} entries; target at 1 000 000)", worst_rss < 150 * 1e6 / 2**20,
              f"{big['rss_mib']} MiB restarted on the full store, {big['rss_after_fill_mib']} MiB in the daemon that filled it")
        worst = max(s["mount_start_s"] for s in scale)
        check("mount ready in under 1 s (every store size)", worst < 1, f"{worst:.3f} s at worst")
    for label, miss in results.get("miss", {}).items():
        check(f"miss overhead under 2 ms ({label})", miss["overhead_p50_us"] < 2000, f"{miss['overhead_p50_us']:.0f} us")
    front = results.get("http_front")
    if front:
        check("HTTP front hit at least 10x faster than LiteLLM's proxy cache hit (p50)", front["litellm_over_front"] >= 10,
              f"{front['litellm_over_front']}x ({front['litellm_p50_us']:.0f} vs {front['front_p50_us']:.0f} us)")
        check("HTTP front hit within 2x a minimal hummingbird route (p50)", front["front_over_floor"] <= 2,
              f"{front['front_over_floor']}x ({front['front_p50_us']:.0f} vs {front['floor_p50_us']:.0f} us)")
    shared = results.get("shared")
    if shared:
        check("shared hit within 1.3x two plain GETs of its objects (p50)", shared["ratio"] <= 1.3,
              f"{shared['ratio']}x ({shared['shared_hit_p50_us']:.0f} vs {shared['two_gets_p50_us']:.0f} us); "
              f"{shared['uploads_per_s']} uploads/s with {shared['uploads']} queued")
    return out


def print_table(results):
    lines = []
    add = lines.append
    add(f"{'method':44} {'client':7} {'p50 us':>9} {'p99 us':>9} {'x floor':>8} {'x hit':>7}")
    for row in results["latency"]:
        fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
        add(f"{row['method']:44} {row['client']:7} {row['p50_us']:9.1f} {row['p99_us']:9.1f} "
            f"{fmt(row['x_floor']):>8} {fmt(row['x_entry_hit']):>7}")
    add("")
    add("throughput (C, pthreads, open+read+close), ops/s:")
    methods = []
    for t in results["throughput"]:
        if t["method"] not in methods:
            methods.append(t["method"])
    add(f"  {'method':32} {'1 thread':>10} {'2 threads':>10} {'8 threads':>10}")
    for m in methods:
        figures = {t["threads"]: t["ops_per_s"] for t in results["throughput"] if t["method"] == m}
        add(f"  {m:32} {figures.get(1, 0):10.0f} {figures.get(2, 0):10.0f} {figures.get(8, 0):10.0f}")
    if results.get("miss"):
        add("")
    for label, m in results.get("miss", {}).items():
        add(f"miss overhead, {label}: {m['through_mount_p50_us']:.0f} us through the mount - "
            f"{m['direct_p50_us']:.0f} us direct = {m['overhead_p50_us']:.0f} us (p50)")
    if results.get("engine"):
        add("")
        add("engine in-process (Swift, no FUSE; bench/Engine), microseconds:")
        for row in results["engine"]:
            label = row["name"] + (f" @ {row['entries']} entries" if row.get("entries") else "")
            add(f"  {label:44} p50 {row['p50_us']:8.2f}   p99 {row['p99_us']:8.2f}")
    if results["scale"]:
        add("")
        add("scale (lookup = open+read+close of random distinct entries from C; cold = first open by name):")
        add(f"  {'entries':>9} {'fill/s':>7} {'start s':>8} {'cold p50':>9} {'cold p99':>9} {'warm p50':>9} "
            f"{'warm p99':>9} {'ls -U s':>8} {'ls s':>7} {'RSS MiB':>8} {'fill RSS':>8} {'B/entry':>8}")
        for s in results["scale"]:
            if "skipped" in s:
                add(f"  {s['entries']:>9} skipped: {s['skipped']}")
                continue
            add(f"  {s['entries']:>9} {s['generation_per_s']:>7} {s['mount_start_s']:>8.3f} "
                f"{s['lookup_cold']['p50_us']:>9.1f} {s['lookup_cold']['p99_us']:>9.1f} "
                f"{s['lookup_warm']['p50_us']:>9.1f} {s['lookup_warm']['p99_us']:>9.1f} "
                f"{s['ls_U_s']:>8.3f} {s['ls_s']:>7.3f} {s['rss_mib']:>8.1f} {s['rss_after_fill_mib']:>8.1f} "
                f"{s['bytes_per_entry']:>8}")
    if results.get("round_trips"):
        add("")
        add("FUSE requests per operation (strace of the daemon's /dev/fuse reads, 20 repeats):")
        for name, counts in results["round_trips"].items():
            add(f"  {name:44} " + ("not measured" if counts is None else
                                   ", ".join(f"{k} {v:g}" for k, v in counts.items())))
    add("")
    add("targets:")
    for t in results["targets"]:
        add(f"  [{'met' if t['met'] else 'MISSED'}] {t['target']}: {t['figure']}")
    return "\n".join(lines)


def plot(results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(17, 9))
    colors = plt.get_cmap("tab20").colors
    for ax, client in zip(axes, ("python", "c")):
        rows = [row for row in results["latency"] if row["client"] == client]
        for index, row in enumerate(rows):
            data = sorted(s / 1000.0 for s in row["samples"])
            y = [(i + 1) / len(data) for i in range(len(data))]
            method = row["method"]
            style = "-" if method.startswith("cidcache") else ("--" if "floor" in method or "plain" in method else ":")
            ax.plot(data, y, style, color=colors[(2 * index) % 20 + (index // 10) % 2],
                    label=f"{method} (p50 {row['p50_us']:.1f} us, p99 {row['p99_us']:.0f} us)", linewidth=1.8)
        ax.set_xscale("log")
        ax.set_xlabel("latency per call, microseconds (log scale)")
        ax.set_ylabel("fraction of calls at or below")
        ax.set_title(f"{'Python' if client == 'python' else 'C'} client: latency CDF")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=1, frameon=False)
    fig.suptitle(f"cidcache bench, {results['machine']['when']}, load {results['machine']['load_before']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--report", metavar="RESULTS_JSON", help="print the table and targets of an earlier run again")
    parser.add_argument("--sizes", help="comma-separated store sizes (default 1000,100000,1000000; quick: 200,2000)")
    parser.add_argument("--baseline-bin", metavar="PATH",
                        help="another cidcache binary (e.g. a build of the previous commit) whose hits are timed "
                             "in the same interleaved rounds, as 'baseline ...' rows")
    parser.add_argument("--shared-only", action="store_true",
                        help="measure only the shared tier (bench/shared_tier.py) and print its rows")
    parser.add_argument("--http-only", action="store_true",
                        help="measure only the HTTP front (bench/http_bench.py) and print its rows")
    parser.add_argument("--max-generation-s", type=float, default=2400,
                        help="skip a store size whose fill would take longer (projected from the previous size)")
    args = parser.parse_args()
    if args.report:
        with open(args.report) as f:
            results = json.load(f)
        by = {(row["method"], row["client"]): row for row in results["latency"]}
        results["targets"] = targets(results, by)
        print(print_table(results))
        return
    quick = args.quick
    n = 300 if quick else 20000
    seconds = 0.3 if quick else 2.0
    sizes = [int(s) for s in (args.sizes or ("200,2000" if quick else "1000,100000,1000000")).split(",")]
    samples = 200 if quick else 2000
    os.makedirs(OUT, exist_ok=True)
    results = {"quick": quick, "latency": [], "throughput": [], "scale": [],
               "machine": {"when": time.strftime("%Y-%m-%d %H:%M"), "cpus": os.cpu_count(),
                           "load_before": " ".join(open("/proc/loadavg").read().split()[:3]),
                           "kernel": os.uname().release,
                           "commit": subprocess.run(["git", "-C", REPO, "describe", "--always", "--dirty"],
                                                    capture_output=True, text=True).stdout.strip(),
                           "binary": BINARY}}
    root = tempfile.mkdtemp(prefix="cidcache-bench-", dir="/var/tmp")
    if args.shared_only or args.http_only:
        fast = fast_fake()
        try:
            if args.shared_only:
                measure_shared_tier(results, fast.url, root, quick)
            if args.http_only:
                measure_http(results, fast, root, quick, args.baseline_bin)
        finally:
            fast.stop()
            shutil.rmtree(root, ignore_errors=True)
        summarize(results)
        for row in results["latency"]:
            print(f"{row['method']:44} {row['client']:7} p50 {row['p50_us']:9.1f} us  p99 {row['p99_us']:9.1f} us")
        print(json.dumps({key: results[key] for key in ("shared", "http_front") if key in results}))
        return
    fake, fast = FakeOpenAI(KEY), None
    hello = FloorMount(root, "hello", [HELLO], "hello").start()
    query_floor = FloorMount(root, "query_ll", [QUERY_FLOOR, os.path.join(root, "payload.json")], "query")
    query_floor_mt = FloorMount(root, "query_ll_mt", [QUERY_FLOOR, os.path.join(root, "payload.json"), "--mt"], "query")
    mount = CidMount(os.path.join(root, "hits"), fake.url)
    baseline = args.baseline_bin and CidMount(os.path.join(root, "baseline"), fake.url, binary=args.baseline_bin)
    results["machine"]["baseline_binary"] = args.baseline_bin
    started = time.perf_counter()
    try:
        results["mount_start_empty_s"] = round(mount.start(), 3)
        request = chat("What is a content identifier? Answer in one paragraph.")
        payload = mount.query(request)
        results["payload_bytes"] = len(payload)
        log(f"payload {len(payload)} bytes")
        with open(os.path.join(root, "payload.json"), "wb") as f:
            f.write(payload)
        query_floor.start()
        query_floor_mt.start()
        if baseline:
            baseline.start()
            assert baseline.query(request) == payload
        measure_hits(results, hello, (query_floor, query_floor_mt), mount, baseline, payload, request, n, seconds, root)
        with pinned():
            measure_alternatives(results, payload, n, root)
        misses = 100 if quick else 1000
        measure_miss(results, mount, fake, misses, "fake as shipped", baseline)
        if baseline:
            baseline.stop()
        rss, _ = rss_kib(mount.process.pid)
        results["rss_after_hits_mib"] = round(rss / 1024, 1)
        mount.stop()
        hello.stop()
        query_floor.stop()
        query_floor_mt.stop()
        fast = fast_fake()
        mount = CidMount(os.path.join(root, "misses"), fast.url)
        mount.start()
        if args.baseline_bin:
            baseline = CidMount(os.path.join(root, "baseline-misses"), fast.url, binary=args.baseline_bin)
            baseline.start()
        measure_miss(results, mount, fast, misses, "fake with TCP_NODELAY", baseline)
        mount.stop()
        if baseline:
            baseline.stop()
        measure_shared_tier(results, fast.url, root, quick)
        measure_http(results, fast, root, quick, args.baseline_bin)
        measure_scale(results, fast, sizes, samples, root, args.max_generation_s)
        log("engine in-process")
        measure_engine(results, [size for size in sizes if size <= 100000] or sizes[:1], n)
    finally:
        mount.stop()
        if baseline:
            baseline.stop()
        hello.stop()
        query_floor.stop()
        query_floor_mt.stop()
        fake.stop()
        if fast:
            fast.stop()
        shutil.rmtree(root, ignore_errors=True)
    results["machine"]["load_after"] = " ".join(open("/proc/loadavg").read().split()[:3])
    results["elapsed_s"] = round(time.perf_counter() - started, 1)
    by = summarize(results)
    results["targets"] = targets(results, by)
    table = print_table(results)
    print(table)
    plot(results, os.path.join(OUT, "latency.png"))
    for row in results["latency"]:
        row.pop("samples")
    results["table"] = table
    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    print(f"\nload {results['machine']['load_before']} before, {results['machine']['load_after']} after; "
          f"{results['elapsed_s']} s; wrote {OUT}/results.json and {OUT}/latency.png")


if __name__ == "__main__":
    main()
