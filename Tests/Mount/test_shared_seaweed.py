"""The shared tier (issue 12) on a real SeaweedFS cluster (master, two volume
servers with replication 001, filer, two S3 gateways; skipped only when
`weed` is not installed): every object is written with its
x-amz-checksum-sha256 (SeaweedFS keeps it and refuses a wrong one); a
read-only machine (`upload: false`, or no signing key) on the bucket's
read-only identity reads but never writes, never even tries; bucket
credentials from CIDCACHE_SHARED_* first, else AWS_*; concurrent publishers
through the two gateways make one record and one blob each; faults (a
gateway SIGSTOPped, a volume server killed, the whole cluster gone; and on
moto the bucket missing, as SeaweedFS creates a missing bucket on the first
PUT): every query answers from the upstream within 3 s, a breaker opens
(lookups', uploads' or both), then both close once the fault is gone, and local entries are intact; the daemon
starts and answers without its bucket; a full upload queue drops, counted.
Fixtures: shared_support.py.
"""
import base64
import hashlib
import threading
import time
import uuid

import pytest

from conftest import chat
from fake_infra_http import TOKEN_A
from object_stores import READER, WRITER, free_ports
from shared_support import (
    SLACK_S,
    answer_text,
    layout,
    metric,
    outcomes,
    publish,
    shared_errors,
    shared_stats,
    timed_query,
    wait_stats,
    wait_until,
    wait_uploads,
    with_infra,
)
from shared_support import end_store_leftovers, moto, seaweed, seaweed_cluster, shared_mount, team_key  # noqa: F401 (fixtures, used by name)


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
DIRECTIONS = ("read", "write")


def a_breaker_open(stats):
    """The lookups' breaker, the uploads' or both (a volume server down fails only uploads)."""
    return "open" in (stats["shared_read_breaker"], stats["shared_write_breaker"])


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
            if a_breaker_open(shared_stats(a)):
                break
        wait_stats(a, "a breaker to open", a_breaker_open, seconds=15)
        stats = shared_stats(a)
        assert stats["shared_errors"] + stats["shared_upload_errors"] >= 2, stats
        assert stats["shared_hits"] == 0
        states = {(direction, state): metric(a, f'cidcache_shared_breaker{{direction="{direction}",state="{state}"}}')
                  for direction in DIRECTIONS for state in ("closed", "open", "half_open")}
        for direction in DIRECTIONS:
            assert sorted(v for (d, _), v in states.items() if d == direction) == [0, 0, 1], states
        assert not all(states[(direction, "closed")] for direction in DIRECTIONS), states
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
        stats = shared_stats(a)
        return stats["shared_read_breaker"] == stats["shared_write_breaker"] == "closed"

    wait_until("the breakers to close", closed, seconds=40, interval=0.3)
    for direction in DIRECTIONS:
        assert metric(a, f'cidcache_shared_breaker{{direction="{direction}",state="closed"}}') == 1
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
