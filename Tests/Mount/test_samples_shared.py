"""Sample buckets (issue 20) in the shared tier, two or three daemons on moto:
each sample is its own signed record (sample 0 at the request CID's key,
sample i at `<request CID>.<i>`); machine B asking with samples 3 gets A's
three samples from the bucket with no upstream call; A and B filling one
bucket at once leave three records, one per slot. Fixtures: shared_support.py."""
import threading
import uuid

import pytest

from cidlib import cid, request_cid
from samples_support import OP, ask, sampled, samples_xattr, stored_samples
from shared_support import PREFIX, layout, outcomes, scope_of, shared_errors, shared_stats, verify, wait_uploads
from shared_support import end_store_leftovers, moto, shared_mount, team_key  # noqa: F401 (fixtures)


def sample_records(store, bucket, request):
    """{key name under the scope: record} of the request's records in the bucket."""
    rcid = request_cid(*OP, request)
    records, _ = layout(store, bucket)
    found = {}
    for key, raw in records.items():
        name = key.rsplit("/", 1)[1]
        if name.split(".")[0] == rcid:
            assert key == f"{PREFIX}/v1/idx/{scope_of(key)}/{name}"
            found[name] = raw
    return found


def slot_names(request):
    rcid = request_cid(*OP, request)
    return {rcid, rcid + ".1", rcid + ".2"}


def misses(m):
    return outcomes(m).count("miss")


def test_b_gets_the_three_samples_a_fetched_without_calling_upstream(moto, shared_mount, fake, team_key):
    bucket = moto.create_bucket()
    a, b = shared_mount(moto, bucket), shared_mount(moto, bucket)
    request = sampled(f"shared samples {uuid.uuid4().hex}")
    start = shared_stats(a)
    fetched = {ask(a, request) for _ in range(3)}
    assert len(fetched) == 3 and outcomes(a) == ["miss"] * 3
    wait_uploads(a, 3, start)
    records = sample_records(moto, bucket, request)
    assert set(records) == slot_names(request)
    assert {verify(raw, team_key.public)["content_cid"] for raw in records.values()} == {cid(body) for body in fetched}
    _, blobs = layout(moto, bucket)
    assert set(blobs.values()) == fetched

    calls = len(fake.calls_to("/chat/completions"))
    got = [ask(b, request) for _ in range(3)]
    assert set(got) == fetched
    assert outcomes(b) == ["shared"] * 3
    assert len(fake.calls_to("/chat/completions")) == calls, "B made no upstream call"
    assert samples_xattr(b, request) == "3/3" and set(stored_samples(b, request).values()) == fetched
    assert {ask(b, request) for _ in range(3)} == fetched
    assert outcomes(b) == ["shared"] * 3 + ["hit"] * 3
    assert len(fake.calls_to("/chat/completions")) == calls
    assert shared_stats(b)["shared_hits"] == 3 and not shared_errors(a) and not shared_errors(b)


def test_b_asking_for_sample_i_gets_a_s_sample_i(moto, shared_mount, fake):
    bucket = moto.create_bucket()
    a, b = shared_mount(moto, bucket), shared_mount(moto, bucket)
    request = sampled(f"one shared sample {uuid.uuid4().hex}")
    start = shared_stats(a)
    by_index = {i: ask(a, request, sample=i) for i in (2, 0, 1)}
    wait_uploads(a, 3, start)
    calls = len(fake.calls_to("/chat/completions"))
    assert ask(b, request, sample=2) == by_index[2]
    assert outcomes(b) == ["shared"] and b.json_lines("log")[-1]["sample"] == 2
    assert stored_samples(b, request) == {2: by_index[2]}
    assert len(fake.calls_to("/chat/completions")) == calls


@pytest.mark.deadline(90)
def test_two_machines_filling_one_bucket_at_once_leave_one_record_per_slot(moto, shared_mount, fake, team_key):
    bucket = moto.create_bucket()
    a, b = shared_mount(moto, bucket), shared_mount(moto, bucket)
    fake.delay = 0.5  # both machines are inside their upstream calls at once
    request = sampled(f"raced samples {uuid.uuid4().hex}")
    starts = {a: shared_stats(a), b: shared_stats(b)}
    barrier = threading.Barrier(6)
    answers, failures = {a: [], b: []}, []

    def asker(m):
        try:
            barrier.wait(timeout=10)
            answers[m].append(ask(m, request))
        except Exception as error:  # reported below
            failures.append(repr(error))

    threads = [threading.Thread(target=asker, args=(m,)) for m in (a, b) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not failures, failures
    assert 3 <= len(fake.calls_to("/chat/completions")) <= 6
    for m in (a, b):
        stored = set(stored_samples(m, request).values())
        assert len(stored) == 3 and set(answers[m]) == stored
        wait_uploads(m, misses(m), starts[m])
    records = sample_records(moto, bucket, request)
    assert set(records) == slot_names(request), "at most one record per slot, three in all"
    for raw in records.values():
        verify(raw, team_key.public)

    # What the bucket holds is whole: a third machine gets three samples from it.
    c = shared_mount(moto, bucket)
    calls = len(fake.calls_to("/chat/completions"))
    assert len({ask(c, request) for _ in range(3)}) == 3
    assert outcomes(c) == ["shared"] * 3 and len(fake.calls_to("/chat/completions")) == calls
