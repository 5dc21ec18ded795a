"""A bounded-time, seeded fuzz of the query files and ctl (issue 5).

Random and mutated requests (byte flips, truncations, duplicated keys, deep
nesting, huge numbers, random unicode, random `cidcache` control objects) and
random ctl lines are thrown from a few threads for about 20 s. Every operation
must end, in time, with an answer or an errno of the table in
docs/REFERENCE.md §5; every answer must be bytes the fake sent for that
operation; every `errors` line must be valid JSON with the fields of
docs/REFERENCE.md §11; the daemon must be alive at the end.

CIDCACHE_FUZZ_SEED and CIDCACHE_FUZZ_SECONDS change the seed and the duration."""
import collections
import errno
import json
import os
import random
import threading
import time

from conftest import chat

SEED = int(os.environ.get("CIDCACHE_FUZZ_SEED", "20260501"))
SECONDS = float(os.environ.get("CIDCACHE_FUZZ_SECONDS", "20"))
THREADS = 4
OP_TIMEOUT = 20.0  # upstream timeout is 1 s here: anything near this is a hang
TABLE = {"EINVAL", "EFBIG", "EACCES", "ENOENT", "EBUSY", "ETIMEDOUT", "ENETUNREACH", "EIO"}
ERROR_FIELDS = {"time", "namespace", "op", "request_cid", "errno", "status", "message", "pid"}
OPS = {"chat.completions": "chat.completion", "completions": "text_completion", "embeddings": "list"}
MODELS = ["gpt-4o-mini", "gpt-4o-mini", "gpt-4o", "text-embedding-3-small", "fail-400", "fail-401", "fail-404",
          "fail-429", "fail-500", "stream-cut", "stream-nodone", "slow-0.2", "slow-1.5", "flaky-1", "flaky429-1", "", "\u00e9\U0001F600"]
INTERESTING = [b"\x00", b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b'"', b"{", b"}", b"[", b"]", b",", b":", b"\\",
               b"\\u", b"\\ud800", b"\\udc00", b"9007199254740993", b"-9007199254740993", b"1e999", b"-", b"NaN",
               b"Infinity", b"null", b"\n", b"\t", b"\x01", b"\xef\xbb\xbf", b"\"cidcache\": {\"ttl\": 5}, "]


# --- generators ----------------------------------------------------------------

def random_string(rng):
    kind = rng.random()
    length = rng.choice([0, 1, 3, 8, 40])
    if kind < 0.35:
        return "".join(chr(rng.randint(0x20, 0x7E)) for _ in range(length))
    if kind < 0.65:
        ranges = [(0xA0, 0x2FF), (0x300, 0x36F), (0x590, 0x6FF), (0x3040, 0x30FF), (0x4E00, 0x4EFF),
                  (0xFB00, 0xFB4F), (0xFFF0, 0xFFFF), (0x10000, 0x1FAFF), (0xE0000, 0xE007F), (0x10FFF0, 0x10FFFF)]
        return "".join(chr(rng.randint(*rng.choice(ranges))) for _ in range(length))
    if kind < 0.8:
        return "".join(chr(rng.choice([0xD800, 0xDBFF, 0xDC00, 0xDFFF, 0x41])) for _ in range(max(1, length)))
    return "".join(chr(rng.randint(0, 0x1F)) for _ in range(max(1, length)))


def random_number(rng):
    return rng.choice([
        0, -0.0, 1, -1, 0.5, 1e-7, 1e21, 1e20, 2 ** 53, -(2 ** 53), 2 ** 53 + 1, 2 ** 63, 2 ** 64 + 7, 10 ** 30,
        -(10 ** 30), 1.7976931348623157e308, 5e-324, 9.2233720368547748e18, rng.randint(-10 ** 6, 10 ** 6),
        rng.uniform(-1e6, 1e6), rng.random(), float("inf"), float("nan"),
    ])


def random_value(rng, depth=0):
    kind = rng.random() if depth < 4 else rng.random() * 0.6
    if kind < 0.1:
        return None
    if kind < 0.2:
        return rng.random() < 0.5
    if kind < 0.35:
        return random_number(rng)
    if kind < 0.6:
        return random_string(rng)
    if kind < 0.8:
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {random_string(rng): random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def random_control(rng):
    keys = ["refresh", "ttl", "no_store", "ttl", "refresh", "x", "", "TTL"]
    # Near Int64's edge: a TTL the parser takes as a float literal but that overflows expiry arithmetic.
    values = [True, False, 0, 1, 60, -1, 1.5, 1e300, 9.2233720368547748e18, 9.2233720368547748e18, 4e18, "60", None,
              [], {}]
    if rng.random() < 0.1:
        return random_value(rng)
    return {rng.choice(keys): rng.choice(values) for _ in range(rng.randint(0, 3))}


def dumps(value, rng):
    """JSON text of a value as bytes, any of several ways (lone surrogates may come out
    as escapes or as CESU-8 bytes, which are invalid UTF-8)."""
    text = json.dumps(value, ensure_ascii=rng.random() < 0.5, indent=rng.choice([None, None, 0, 2]),
                      separators=rng.choice([None, (",", ":"), (" , ", " : ")]))
    return text.encode("utf-8", "surrogatepass")


def base_request(rng, op):
    model = rng.choice(MODELS)
    if op == "chat.completions":
        request = chat(random_string(rng) if rng.random() < 0.7 else "fuzz", model=model,
                       temperature=rng.choice([0, 0.7, 1, None, "hot"]))
    elif op == "completions":
        request = {"model": model, "prompt": random_string(rng)}
    else:
        request = {"model": model, "input": rng.choice([random_string(rng), [random_string(rng)], [1, 2, 3]])}
    for _ in range(rng.choice([0, 0, 1, 2])):
        field = rng.choice(["seed", "n", "max_tokens", "user", "metadata", "store", "stream", "x", "logit_bias"])
        request[field] = random_value(rng)
    if op != "embeddings" and rng.random() < 0.25:
        request["stream"] = True
        if rng.random() < 0.5:
            request["stream_options"] = {"include_usage": rng.random() < 0.7}
    if rng.random() < 0.3:
        request["cidcache"] = random_control(rng)
    return request


def mutate(body, rng):
    for _ in range(rng.randint(1, 3)):
        kind = rng.randrange(9)
        at = rng.randint(0, len(body))
        if kind == 0 and body:  # flip a bit
            at = min(at, len(body) - 1)
            body = body[:at] + bytes([body[at] ^ (1 << rng.randrange(8))]) + body[at + 1:]
        elif kind == 1:  # truncate
            body = body[:at]
        elif kind == 2:  # insert something that tends to matter
            body = body[:at] + rng.choice(INTERESTING) + body[at:]
        elif kind == 3:  # delete a span
            body = body[:at] + body[at + rng.randint(1, 16):]
        elif kind == 4:  # duplicate a key
            body = body.replace(b"{", b'{"model": "dup", ', 1) if rng.random() < 0.5 else \
                body.replace(b'"messages"', b'"messages": [], "messages"', 1)
        elif kind == 5:  # deep nesting
            depth = rng.choice([100, 511, 513, 5000, 100_000])
            opener, closer = rng.choice([(b"[", b"]"), (b'{"a":', b"}")])
            inner = b"1" if opener != b"[" else b""
            body = body.replace(b"{", b'{"deep": ' + opener * depth + inner + closer * depth + b", ", 1)
        elif kind == 6:  # a huge number
            number = rng.choice([b"9" * rng.randint(17, 400), b"1e" + str(rng.randint(300, 5000)).encode(),
                                 b"-" + b"9" * 30, b"0." + b"0" * 400 + b"1", b"123456789012345678901234567890e-10"])
            body = body.replace(b"{", b'{"seed": ' + number + b", ", 1)
        elif kind == 7:  # a control object, maybe a second one
            body = body.replace(b"{", b'{"cidcache": ' + dumps(random_control(rng), rng) + b", ", 1)
        else:  # not an object at all
            body = rng.choice([b"[" + body + b"]", b'"' + body + b'"', body + body, b" " + body + b" x"])
    return body


# A seed corpus of edge cases every thread starts from (mutations and repeats use it).
CORPUS = [
    b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "corpus"}], "temperature": 0}',
    b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "corpus"}], "cidcache": {"ttl": 0}}',
    b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "corpus"}], "cidcache": {"refresh": true}}',
    b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "corpus"}], "cidcache": {"no_store": true}}',
    b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "edge"}], "cidcache": {"ttl": 9.2233720368547748e18}}',
    b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "stream"}], "stream": true}',
    b'{"model": "gpt-4o-mini", "messages": [], "seed": 9007199254740992, "x": "\\u0000\\ud83d\\ude00"}',
    b'{"model": "gpt-4o-mini", "messages": [], "x": ' + b"[" * 500 + b"]" * 500 + b"}",
    b'{"model": "gpt-4o-mini", "prompt": "corpus", "max_tokens": 1e3}',
    b'{"model": "text-embedding-3-small", "input": ["corpus", "\xc3\x85", "A\xcc\x8a"]}',
]


def random_body(rng, op, history):
    roll = rng.random()
    if roll < 0.25 and history:
        return rng.choice(history)  # asked again: hits and coalesced waiters
    if roll < 0.3:
        return dumps(random_value(rng), rng)
    if roll < 0.32:
        return b'{"model": "gpt-4o-mini", "pad": "' + b"a" * (9 << 20) + b'"}'  # past the 8 MiB limit
    body = dumps(base_request(rng, op), rng)
    if roll < 0.65:
        body = mutate(body, rng)
    return body


def random_ctl(rng):
    roll = rng.random()
    if roll < 0.3:
        command = {"invalidate": {"namespace": rng.choice(["openai", "openai", "nope", "", 7]),
                                  **({"op": rng.choice(list(OPS) + ["nope"])} if rng.random() < 0.6 else {}),
                                  **({"match": {"model": rng.choice(MODELS)}} if rng.random() < 0.5 else {})}}
        line = dumps(command, rng)
    elif roll < 0.5:
        line = dumps(random_value(rng), rng)
    elif roll < 0.6:
        line = dumps({"invalidate": {"namespace": "openai", "match": random_value(rng)}}, rng)
    else:
        line = mutate(b'{"invalidate": {"namespace": "openai", "op": "completions", "match": {"model": "gpt-4o"}}}', rng)
    line = line.replace(b"\n", b" ")
    return line + rng.choice([b"\n", b"\n", b"", b"\n\n  \n"])


# --- the fuzz ------------------------------------------------------------------

class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.ops = 0
        self.successes = 0
        self.errnos = collections.Counter()
        self.ctl = collections.Counter()
        self.problems = []

    def problem(self, text):
        with self.lock:
            self.problems.append(text)


def errno_name(error):
    return errno.errorcode.get(error.errno, str(error.errno))


def query_once(m, op, body, rng):
    """(answer bytes, None) or (None, errno name)."""
    try:
        fd = os.open(m.p("api", "openai", op, "query"), os.O_RDWR)
    except OSError as error:
        return None, "open " + errno_name(error)
    try:
        cuts = sorted(rng.sample(range(1, len(body)), min(len(body) - 1, rng.randint(0, 2)))) if len(body) > 1 else []
        start = 0
        for end in cuts + [len(body)]:
            view = memoryview(body)[start:end]
            while view:
                view = view[os.write(fd, view):]
            start = end
        out = b""
        size = rng.choice([1, 7, 4096, 65536])
        while True:
            chunk = os.read(fd, size)
            if not chunk:
                return out, None
            out += chunk
    except OSError as error:
        return None, errno_name(error)
    finally:
        try:
            os.close(fd)
        except OSError:
            pass


def ctl_once(m, line):
    try:
        fd = os.open(m.p("ctl"), os.O_WRONLY)
    except OSError as error:
        return "open " + errno_name(error)
    try:
        view = memoryview(line)
        while view:
            view = view[os.write(fd, view):]
        return None
    except OSError as error:
        return errno_name(error)
    finally:
        try:
            os.close(fd)
        except OSError:
            pass


def crash_summary(mount):
    lines = mount.daemon_output().splitlines()
    wanted = [line.strip() for line in lines if "runtime failure" in line or "Fatal error" in line
              or "/Sources/Cid" in line]
    return "\n".join(wanted[:8]) or "\n".join(lines[-20:])


def test_fuzz_query_files_and_ctl(make_mount, fake):
    # No calls-per-minute cap: past OpenAI's 500 a minute, misses would queue (by design) for up to a minute.
    m = make_mount(upstream_timeout_s=1, limits={"openai": {"concurrent": 32, "per_minute": None}}).start()
    sent = collections.defaultdict(set)  # op -> every whole success body the fake sent for it
    original_send, original_send_events = fake.send, fake.send_events

    def recording_send(handler, status, payload, headers=()):
        if status == 200:
            with fake.lock:
                sent[handler.path[len("/v1/"):].replace("/", ".")].add(json.dumps(payload).encode())
        return original_send(handler, status, payload, headers)

    def recording_send_events(handler, events, done=True, cut=False):
        if done and not cut:  # only a whole event stream is a whole answer
            frames = b"".join(b"data: " + json.dumps(event).encode() + b"\n\n" for event in events)
            with fake.lock:
                sent[handler.path[len("/v1/"):].replace("/", ".")].add(frames + b"data: [DONE]\n\n")
        return original_send_events(handler, events, done, cut)

    fake.send, fake.send_events = recording_send, recording_send_events
    tally = Tally()
    current = [None] * THREADS  # (started, what) of each thread's operation in progress
    deadline = time.monotonic() + SECONDS
    answers = []
    stop = threading.Event()

    def worker(index):
        rng = random.Random(SEED * 100 + index)
        history = CORPUS[:]
        while time.monotonic() < deadline and not stop.is_set():
            if m.process.poll() is not None:
                stop.set()
                break
            if rng.random() < 0.12:
                line = random_ctl(rng)
                current[index] = (time.monotonic(), f"ctl {line[:80]!r}")
                outcome = ctl_once(m, line)
                current[index] = None
                with tally.lock:
                    tally.ops += 1
                    tally.ctl[outcome or "ok"] += 1
                if outcome not in (None, "EINVAL"):
                    tally.problem(f"ctl {line[:200]!r}: {outcome}")
                continue
            op = rng.choice(list(OPS))
            body = random_body(rng, op, history)
            current[index] = (time.monotonic(), f"{op} {body[:80]!r}")
            started = time.monotonic()
            answer, outcome = query_once(m, op, body, rng)
            elapsed = time.monotonic() - started
            current[index] = None
            with tally.lock:
                tally.ops += 1
                if outcome is None:
                    tally.successes += 1
                    answers.append((op, answer, body))
                else:
                    tally.errnos[outcome] += 1
            if outcome is not None and outcome not in TABLE:
                tally.problem(f"{op} {body[:200]!r}: {outcome} is not in the table")
            if elapsed > OP_TIMEOUT:
                tally.problem(f"{op} {body[:200]!r}: took {elapsed:.1f} s")
            if outcome is None and len(body) < 4096 and len(history) < 64:
                history.append(body)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(THREADS)]
    for t in threads:
        t.start()
    hung = []
    while any(t.is_alive() for t in threads):
        now = time.monotonic()
        hung = [what for what in (current[i] for i in range(THREADS)) if what and now - what[0] > OP_TIMEOUT]
        if hung or now > deadline + 3 * OP_TIMEOUT:
            break
        time.sleep(0.2)
    assert not hung, f"operations hung: {hung}"
    assert not any(t.is_alive() for t in threads), "a fuzz thread never finished"

    # The daemon is alive and still answers.
    if m.process.poll() is None and tally.errnos.get("ENOTCONN"):
        m.process.wait(timeout=5)
    assert m.process.poll() is None, (f"the daemon died after {tally.ops} operations: " + crash_summary(m)
                                      + "\nlast problems: " + "\n".join(tally.problems[-3:]))
    assert json.loads(m.query("openai", "chat.completions", chat("after the fuzz")))["object"] == "chat.completion"

    # Every answer is bytes the fake sent for that operation.
    wrong = [(op, answer[:200], body[:200]) for op, answer, body in answers if answer not in sent[op]]
    for op, answer, _ in answers:
        if answer.startswith(b"data: "):
            events = [json.loads(line[6:]) for line in answer.split(b"\n\n") if line and line != b"data: [DONE]"]
            assert all(e["object"] in (OPS[op], OPS[op] + ".chunk") for e in events), answer[:300]
        else:
            assert json.loads(answer)["object"] == OPS[op]

    # errors and log: valid JSON lines with the fields of docs/REFERENCE.md §11.
    errors = m.json_lines("errors")
    for line in errors:
        assert set(line) == ERROR_FIELDS, line
        assert line["errno"] in TABLE, line
        assert line["request_cid"] is None or line["request_cid"].startswith("baga"), line
        assert line["status"] is None or isinstance(line["status"], int), line
        assert isinstance(line["message"], str) and line["message"], line
    # Every failure left at least one line (EFBIG leaves one per refused write).
    assert len(errors) >= sum(tally.errnos.values()) + tally.ctl["EINVAL"], (len(errors), tally.errnos, tally.ctl)
    log = m.json_lines("log")
    assert all(line["outcome"] in ("hit", "miss", "coalesced", "stale", "bypassed", "error") for line in log)
    stats = m.stats()
    assert stats["hits"] >= 0 and isinstance(stats["hit_rate"], (int, float))

    counts = " ".join(f"{name}={n}" for name, n in sorted(tally.errnos.items()))
    ctl = " ".join(f"{name}={n}" for name, n in sorted(tally.ctl.items()))
    print(f"\nfuzz seed={SEED} {SECONDS:.0f}s threads={THREADS}: ops={tally.ops} successes={tally.successes} "
          f"errnos: {counts}; ctl: {ctl}; upstream calls={len(fake.calls)} errors lines={len(errors)} "
          f"hits={stats['hits']} misses={stats['misses']} coalesced={stats['coalesced']} wrong answers={len(wrong)}")
    assert not tally.problems, tally.problems[:10]
    assert not wrong, wrong[:5]
    assert tally.successes > 0 and sum(tally.errnos.values()) > 0
