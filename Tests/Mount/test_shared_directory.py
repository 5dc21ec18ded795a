"""The shared tier on a directory (issue 19, `"url": "file:///path"`), with
three daemons on one directory: one answer shared by all, three publishing
one answer at once (one record, no temporary file left), a reader whose
directory is read-only (a read-only bind mount: root writes through chmod),
a writer killed with SIGKILL mid-publish (nothing partial is ever read, its
temporary file is swept once old), and the config errors of a directory.
Sharing, poisonings, `not_before` and refreshes on a directory also run in
test_shared_tier.py, test_shared_trust.py and test_shared_refresh.py (the
`store` fixture). Fixtures: shared_support.py, directory_store.py.
"""
import fcntl
import os
import subprocess
import threading
import time
import uuid

import pytest

from cidlib import cid
from conftest import chat
from shared_support import PREFIX, only_record, outcomes, publish, shared_errors, shared_stats, verify, wait_stats, wait_until
from shared_support import directory, end_store_leftovers, shared_mount, team_key  # noqa: F401 (fixtures, used by name)

OP = ("openai", "chat.completions")


def test_three_daemons_share_one_answer_through_a_directory(directory, shared_mount, fake, team_key):
    bucket = directory.create_bucket()
    a, b, c = (shared_mount(directory, bucket) for _ in range(3))
    request = chat(f"three machines {uuid.uuid4().hex}")
    body = publish(a, request)
    record_key, record, blob_key, blob = only_record(directory, bucket)
    assert blob_key == f"{PREFIX}/v1/blob/{cid(body)}" and blob == body, "the bucket's keys, as paths"
    verify(directory.get(bucket, record_key), team_key.public)
    for m in (b, c):
        assert m.query(*OP, request) == body
        assert outcomes(m) == ["shared"]
    assert len(fake.calls_to("/chat/completions")) == 1
    assert directory.temporaries(bucket) == [], "every temporary file was published or removed"
    assert all(key.endswith("/.lock") for key in directory.dot_files(bucket))
    for m in (a, b, c):
        assert not shared_errors(m) and shared_stats(m)["shared_upload_errors"] == 0


def test_three_daemons_publishing_one_answer_at_once_leave_one_record(directory, shared_mount, fake):
    bucket = directory.create_bucket()
    daemons = [shared_mount(directory, bucket) for _ in range(3)]
    request = chat(f"all at once {uuid.uuid4().hex}")
    bodies = {}

    def ask(m):
        bodies[m.path] = m.query(*OP, request)
    threads = [threading.Thread(target=ask, args=(m,)) for m in daemons]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    asked = outcomes(daemons[0]) + outcomes(daemons[1]) + outcomes(daemons[2])
    fetched = asked.count("miss")
    assert fetched + asked.count("shared") == 3 and fetched >= 1, asked
    for m in daemons:
        if outcomes(m) == ["miss"]:
            wait_stats(m, "its upload", lambda stats: stats["shared_uploads"] == 1)
    record_key, record, _, blob = only_record(directory, bucket)
    assert blob in bodies.values() and record["content_cid"] == cid(blob)
    assert directory.temporaries(bucket) == []
    d = shared_mount(directory, bucket, upload=False)
    assert d.query(*OP, request) == blob and outcomes(d) == ["shared"]
    for m in daemons:
        stats = shared_stats(m)
        assert stats["shared_upload_errors"] == 0 and stats["shared_upload_dropped"] == 0, stats


@pytest.fixture
def read_only_view(directory):
    """read_only_view(bucket) -> a read-only bind mount of the bucket's directory (chmod does not
    stop root), unmounted at teardown."""
    views = []

    def make(bucket):
        view = directory.path(f"ro-{uuid.uuid4().hex[:8]}")
        os.makedirs(view)
        subprocess.run(["mount", "--bind", directory.path(bucket), view], check=True, capture_output=True)
        views.append(view)
        subprocess.run(["mount", "-o", "remount,ro,bind", view], check=True, capture_output=True)
        return view

    yield make
    for view in views:
        subprocess.run(["umount", view], capture_output=True)
        os.rmdir(view)


def test_a_reader_on_a_read_only_directory_reads_and_counts_its_failed_uploads(directory, shared_mount, fake,
                                                                              read_only_view):
    bucket = directory.create_bucket()
    a = shared_mount(directory, bucket)
    request = chat(f"read-only share {uuid.uuid4().hex}")
    body = publish(a, request)
    view = read_only_view(bucket)
    with pytest.raises(OSError):
        open(os.path.join(view, "written-by-root"), "wb")
    before = directory.objects(bucket), directory.dot_files(bucket)
    # B signs and would upload; its directory will not take a byte.
    b = shared_mount(directory, bucket, url="file://" + view, breaker_failures=2)
    assert b.query(*OP, request) == body
    assert outcomes(b) == ["shared"]
    for n in range(3):
        b.query(*OP, chat(f"only B asks {n} {uuid.uuid4().hex}"))
    stats = wait_stats(b, "three failed uploads", lambda stats: stats["shared_upload_errors"] == 3)
    assert stats["shared_uploads"] == 0 and stats["shared_hits"] == 1, stats
    assert stats["shared_write_breaker"] == "closed", "a read-only directory is not a failing one"
    assert stats["shared_read_breaker"] == "closed" and stats["shared_errors"] == 0, stats
    assert not shared_errors(b), "failed uploads are counted, not logged one by one"
    assert outcomes(b) == ["shared", "miss", "miss", "miss"]
    assert (directory.objects(bucket), directory.dot_files(bucket)) == before
    assert b.healthy()


def test_a_writer_killed_mid_publish_leaves_nothing_partial(directory, shared_mount, fake):
    """A's body is written whole under a temporary name, and A waits for the directory's lock,
    which the test holds: the moment between writing and publishing, made to last. SIGKILL
    there, and no reader ever sees the object, whole or in part; the next writer publishes."""
    bucket = directory.create_bucket()
    blobs = directory.path(bucket, f"{PREFIX}/v1/blob")
    os.makedirs(blobs)
    lock = open(os.path.join(blobs, ".lock"), "a+b")
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        a = shared_mount(directory, bucket, upload_timeout_ms=60_000)
        request = chat(f"killed writer {uuid.uuid4().hex}")
        body = a.query(*OP, request)
        written = wait_until("A's whole body under a temporary name", lambda: [
            key for key in directory.temporaries(bucket) if os.path.getsize(directory.path(bucket, key)) == len(body)])
        a.kill()
        assert not a.running()
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()
    assert directory.keys(bucket) == [], "nothing was published"
    b = shared_mount(directory, bucket, upload=False)
    assert b.query(*OP, request) == body, "the upstream's answer"
    assert outcomes(b) == ["miss"]
    stats = shared_stats(b)
    assert stats["shared_misses"] == 1 and stats["shared_rejected"] == 0 and stats["shared_errors"] == 0, stats

    # The next writer publishes beside the leftover, which stays (recent: a writer may be at work).
    c = shared_mount(directory, bucket)
    assert publish(c, request) == body
    _, record, _, blob = only_record(directory, bucket)
    assert blob == body and record["size"] == len(body)
    assert directory.temporaries(bucket) == written
    d = shared_mount(directory, bucket, upload=False)
    assert d.query(*OP, request) == body and outcomes(d) == ["shared"]

    # Once old, a writer's first publish into that directory sweeps it.
    hours_ago = time.time() - 2 * 3600
    os.utime(directory.path(bucket, written[0]), (hours_ago, hours_ago))
    e = shared_mount(directory, bucket)
    publish(e, chat(f"another answer {uuid.uuid4().hex}"))
    wait_until("the stale temporary file swept", lambda: directory.temporaries(bucket) == [])
    assert len(fake.calls_to("/chat/completions")) == 4, "A, B, C, and E's other answer"


@pytest.mark.parametrize("member, value", [("bucket", "team-cache"), ("region", "eu-west-1")])
def test_a_directory_takes_no_bucket_or_region(directory, make_mount, member, value):
    m = make_mount(shared={**directory.section(directory.create_bucket()), member: value})
    with pytest.raises(RuntimeError) as failed:
        m.start()
    assert f"shared.{member}" in str(failed.value) and "file://" in str(failed.value)


def test_a_bucket_url_still_needs_its_bucket(make_mount):
    m = make_mount(shared={"url": "http://127.0.0.1:9"})
    with pytest.raises(RuntimeError) as failed:
        m.start()
    assert "shared.bucket" in str(failed.value)
