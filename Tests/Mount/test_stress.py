"""Load (issue 5): 16 processes for a bounded time mixing queries (hits and
misses) over a fixed pool of 40 requests, reads of entries and cid/ files,
`ls` of the operation folders, `rm` of entries and ctl invalidations.

Checked: zero wrong answers (every byte read is checked against its CID: an
entry's against its user.cidcache.cid xattr, a cid/ file's against its name,
a key document against the JCS bytes computed here), zero unexpected errors
(ENOENT on an entry another process just removed is expected and counted
apart), and one upstream call per distinct live request: the requests that
are never removed or invalidated are fetched exactly once each, whatever 16
processes racing on them do. CIDCACHE_STRESS_SECONDS changes the duration."""
import collections
import json
import os
import subprocess
import sys
import tempfile
import time

from cidlib import JSON_CODEC, cid, key_document, request_cid

PROCESSES = 16
SECONDS = float(os.environ.get("CIDCACHE_STRESS_SECONDS", "20"))
HERE = os.path.dirname(os.path.abspath(__file__))

WORKER = r"""
import collections, errno, json, os, random, signal, sys, time
sys.path.insert(0, sys.argv[1])
from cidlib import JSON_CODEC, cid

mount, pool_path, index, start, seconds = sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
with open(pool_path) as f:
    pool = json.load(f)
rng = random.Random(1000 + index)
ops = collections.Counter()
expected = collections.Counter()   # ENOENT that another process explains
unexpected = collections.Counter()
wrong = []
seen = collections.defaultdict(set)  # pool index -> content CIDs seen for it
answered = set()                     # pool indexes this process saw answered (stable ones must stay)
details = []


class Timeout(Exception):
    pass


def alarm(*_):
    raise Timeout()


signal.signal(signal.SIGALRM, alarm)


def p(*parts):
    return os.path.join(mount, *parts)


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def note_error(kind, item, error):
    name = errno.errorcode.get(error.errno, str(error.errno))
    if name == "ENOENT" and kind != "query":
        if item is None or item["volatile"]:
            expected["ENOENT removed by another process"] += 1
            return
        if item["i"] not in answered:
            expected["ENOENT not yet fetched"] += 1
            return
    unexpected[f"{kind} {name}"] += 1
    if len(details) < 20:
        details.append(f"{kind} {item and item['i']}: {error}")


def wrong_answer(text):
    if len(wrong) < 20:
        wrong.append(text)
    else:
        wrong.append("...")


def do_query(item):
    fd = os.open(p("api", "openai", item["op"], "query"), os.O_RDWR)
    try:
        os.write(fd, item["body"].encode())
        out = b""
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            out += chunk
    finally:
        os.close(fd)
    content = cid(out)
    seen[item["i"]].add(content)
    answered.add(item["i"])
    if len(seen[item["i"]]) > 1:
        wrong_answer(f"query {item['i']}: answers {sorted(seen[item['i']])}")


def do_read_entry(item):
    path = p("api", "openai", item["op"], item["rcid"])
    data = read_file(path)
    attribute = os.getxattr(path, "user.cidcache.cid").decode()
    request = os.getxattr(path, "user.cidcache.request").decode()
    if cid(data) != attribute or request != item["rcid"]:
        wrong_answer(f"entry {item['i']}: bytes {cid(data)} xattr {attribute} request {request}")
    seen[item["i"]].add(cid(data))
    if len(seen[item["i"]]) > 1:
        wrong_answer(f"entry {item['i']}: answers {sorted(seen[item['i']])}")


def do_read_cid(item):
    if rng.random() < 0.5 or not seen[item["i"]]:
        data = read_file(p("cid", item["rcid"]))
        if cid(data, JSON_CODEC) != item["rcid"] or data != item["key"].encode():
            wrong_answer(f"key document {item['i']}: {data[:100]!r}")
    else:
        content = rng.choice(sorted(seen[item["i"]]))
        data = read_file(p("cid", content))
        if cid(data) != content:
            wrong_answer(f"cid/{content}: bytes are {cid(data)}")


def do_ls(op):
    names = os.listdir(p("api", "openai", op))
    valid = {item["rcid"] for item in pool if item["op"] == op}
    strays = [n for n in names if n != "query" and n not in valid]
    if "query" not in names or strays:
        wrong_answer(f"ls {op}: strays {strays[:3]}, query listed: {'query' in names}")
    for item in pool:
        if item["op"] == op and not item["volatile"] and item["i"] in answered and item["rcid"] not in names:
            unexpected["ls missing a stable entry"] += 1


def do_rm(item):
    os.unlink(p("api", "openai", item["op"], item["rcid"]))


def do_ctl():
    if rng.random() < 0.5:
        op = rng.choice(["chat.completions", "completions", "embeddings"])
        line = {"invalidate": {"namespace": "openai", "op": op, "match": {"model": "gpt-volatile"}}}
    else:
        item = rng.choice([x for x in pool if x["volatile"]])
        request = json.loads(item["body"])
        field = "messages" if item["op"] == "chat.completions" else ("prompt" if item["op"] == "completions" else "input")
        line = {"invalidate": {"namespace": "openai", "op": item["op"], "match": {field: request[field]}}}
    fd = os.open(p("ctl"), os.O_WRONLY)
    try:
        os.write(fd, (json.dumps(line) + "\n").encode())
    finally:
        os.close(fd)


stable = [x for x in pool if not x["volatile"]]
volatile = [x for x in pool if x["volatile"]]
while time.time() < start:
    time.sleep(0.005)
# Everyone opens with the stable requests, in its own order: 16 racing first misses each.
opening = stable[:]
rng.shuffle(opening)
deadline = start + seconds
while time.time() < deadline:
    roll = rng.random()
    item = None
    if opening:
        kind, item = "query", opening.pop()
    elif roll < 0.40:
        kind, item = "query", rng.choice(pool)
    elif roll < 0.58:
        kind, item = "read entry", rng.choice(pool)
    elif roll < 0.72:
        kind, item = "read cid", rng.choice(pool)
    elif roll < 0.82:
        kind = "ls"
    elif roll < 0.95:
        kind, item = "rm", rng.choice(volatile)
    else:
        kind = "ctl"
    ops[kind] += 1
    signal.alarm(20)
    try:
        if kind == "query":
            do_query(item)
        elif kind == "read entry":
            do_read_entry(item)
        elif kind == "read cid":
            do_read_cid(item)
        elif kind == "ls":
            do_ls(rng.choice(["chat.completions", "completions", "embeddings"]))
        elif kind == "rm":
            do_rm(item)
        else:
            do_ctl()
    except Timeout:
        unexpected[f"{kind} hung"] += 1
    except OSError as error:
        note_error(kind, item, error)
    finally:
        signal.alarm(0)

json.dump({"ops": ops, "expected": expected, "unexpected": unexpected, "wrong": wrong, "details": details,
           "seen": {str(k): sorted(v) for k, v in seen.items()}}, sys.stdout)
"""


def make_pool():
    """40 distinct requests: 24 stable (never removed), 16 volatile (model gpt-volatile)."""
    pool = []

    def add(op, request, volatile):
        body = json.dumps(request)
        pool.append({"i": len(pool), "op": op, "body": body, "volatile": volatile,
                     "rcid": request_cid("openai", op, request),
                     "key": key_document("openai", op, request).decode()})

    for volatile, model, counts in ((False, "gpt-4o-mini", (12, 6, 6)), (True, "gpt-volatile", (8, 4, 4))):
        chats, completions, embeddings = counts
        for i in range(chats):
            # Half of the stable chats are slow upstream: 16 processes pile onto one fetch.
            name = "slow-0.3" if not volatile and i % 2 else model
            add("chat.completions", {"model": name, "messages": [{"role": "user", "content": f"stress {volatile} {i}"}],
                                     "temperature": 0}, volatile)
        for i in range(completions):
            add("completions", {"model": model, "prompt": f"stress {volatile} {i}", "max_tokens": 8}, volatile)
        for i in range(embeddings):
            add("embeddings", {"model": model, "input": f"stress {volatile} {i}"}, volatile)
    return pool


def test_sixteen_processes_mixing_everything(make_mount, fake):
    # No calls-per-minute cap: refetches of removed entries would otherwise queue past OpenAI's 500 a minute.
    m = make_mount(limits={"openai": {"concurrent": 32, "per_minute": None}}).start()
    sent = {}
    original_send = fake.send

    def recording_send(handler, status, payload, headers=()):
        if status == 200:
            with fake.lock:
                sent[handler.path] = sent.get(handler.path, 0) + 1
        return original_send(handler, status, payload, headers)

    fake.send = recording_send
    pool = make_pool()
    assert len({x["rcid"] for x in pool}) == len(pool) == 40
    pool_path = os.path.join(tempfile.mkdtemp(prefix="cidcache-stress-"), "pool.json")
    with open(pool_path, "w") as f:
        json.dump(pool, f)

    start = time.time() + 2.0  # every worker starts at once, imports done
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, HERE, m.path, pool_path, str(i), str(start), str(SECONDS)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE) for i in range(PROCESSES)]
    results = []
    for w in workers:
        out, err = w.communicate(timeout=SECONDS + 90)
        assert w.returncode == 0, err.decode()[-3000:]
        results.append(json.loads(out))
    assert m.process.poll() is None, "the daemon died: " + m.daemon_output()[-3000:]

    ops, expected, unexpected = collections.Counter(), collections.Counter(), collections.Counter()
    wrong, details = [], []
    seen = collections.defaultdict(set)
    for r in results:
        ops.update(r["ops"])
        expected.update(r["expected"])
        unexpected.update(r["unexpected"])
        wrong += r["wrong"]
        details += r["details"]
        for i, cids in r["seen"].items():
            seen[int(i)].update(cids)

    # Every process saw the one answer the fake gives each request (it is deterministic).
    for i, cids in seen.items():
        if len(cids) != 1:
            wrong.append(f"request {i}: {len(cids)} different answers across processes")

    # One upstream call per distinct live request.
    calls = collections.Counter(c["body"] for c in fake.calls)
    stable = [x for x in pool if not x["volatile"]]
    volatile = [x for x in pool if x["volatile"]]
    stable_calls = {x["i"]: calls[x["body"].encode()] for x in stable}
    volatile_calls = sum(calls[x["body"].encode()] for x in volatile)
    unknown_calls = len(fake.calls) - sum(stable_calls.values()) - volatile_calls
    stats = m.stats("openai.json")

    total = sum(ops.values())
    print(f"\nstress: {PROCESSES} processes, {SECONDS:.0f} s, {len(pool)} requests "
          f"({len(stable)} stable, {len(volatile)} volatile)")
    print(f"stress: operations={total} ({', '.join(f'{k}={v}' for k, v in sorted(ops.items()))}), "
          f"{total / SECONDS:.0f} ops/s")
    print(f"stress: wrong answers={len(wrong)}; unexpected errors={sum(unexpected.values())} {dict(unexpected)}; "
          f"expected errors={sum(expected.values())} {dict(expected)}")
    print(f"stress: upstream calls={len(fake.calls)} (stable {sum(stable_calls.values())} for {len(stable)} requests, "
          f"volatile {volatile_calls} for {len(volatile)} requests, other {unknown_calls}); "
          f"daemon: hits={stats['hits']} misses={stats['misses']} coalesced={stats['coalesced']} "
          f"upstream_errors={stats['upstream_errors']} entries={stats['entries']}")

    assert not wrong, wrong[:10]
    assert not unexpected, (dict(unexpected), details[:10])
    assert unknown_calls == 0
    assert all(n == 1 for n in stable_calls.values()), {i: n for i, n in stable_calls.items() if n != 1}
    assert all(calls[x["body"].encode()] >= 1 for x in volatile)
    assert stats["upstream_errors"] == 0
    assert ops["query"] and ops["read entry"] and ops["read cid"] and ops["ls"] and ops["rm"] and ops["ctl"]
    # Every stable entry is still there, and its bytes are the answer everyone saw.
    for x in stable:
        path = m.p("api", "openai", x["op"], x["rcid"])
        data = m.read("api", "openai", x["op"], x["rcid"])
        assert cid(data) == os.getxattr(path, "user.cidcache.cid").decode() == next(iter(seen[x["i"]]))
        assert cid(m.read("cid", x["rcid"]), JSON_CODEC) == x["rcid"]
