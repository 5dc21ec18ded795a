"""The parts of the benchmark: hits against the floors and the caches users
would pick instead, misses, the shared tier, the HTTP front, the engine and
stores of growing size; each adds its rows to `results`."""
import hashlib
import http.client
import json
import os
import random
import shutil
import socket
import subprocess
import time

from harness import (BINARY, CLIENT, KEY, OP_DIR, OUT, CidMount, FakeOpenAI, PayloadServer, Redis, chat, free_port,
                     log, percentiles, request_cid, rss_kib)
from timing import (PIN_CPU, c_interleaved, c_samples, c_throughput, count_round_trips, pinned, py_builtin_read,
                    py_query, py_query_one_read, py_read, time_interleaved, time_loop)



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
