"""A refresh follows into the bucket (issue 18) on moto's server and on a shared
directory (issue 19: a rename under the directory's lock there): the
record with the newer `created` takes the place of a live one (a conditional
write on its ETag), so after A refreshes, another machine gets the new answer
from the bucket; an older record (`cidcache push` from a store that fetched
before) never replaces a newer one. The fake's `changes` model answers each
call anew. Fixtures: shared_support.py.
"""
import json
import time
import uuid

from cidlib import cid
from conftest import chat
from shared_support import only_record, outcomes, publish, push, shared_stats, wait_uploads, wait_until
from shared_support import directory, end_store_leftovers, moto, shared_mount, store, team_key  # noqa: F401 (fixtures)


def next_second():
    """Waits until the clock has passed into a new second: records' `created` are whole seconds."""
    now = int(time.time())
    wait_until("a new second", lambda: int(time.time()) > now, seconds=2, interval=0.02)


def test_a_refresh_replaces_the_live_record_and_an_older_one_never_does(store, shared_mount, make_mount, fake,
                                                                          team_key, tmp_path):
    bucket = store.create_bucket()
    request = chat(f"refreshed {uuid.uuid4().hex}", model="changes")
    # C fetches first and keeps its answer at home (no shared tier): the oldest answer.
    c = make_mount().start()
    oldest = c.query("openai", "chat.completions", request)
    next_second()
    a = shared_mount(store, bucket)
    first = publish(a, request)
    assert first != oldest
    assert only_record(store, bucket)[1]["content_cid"] == cid(first)

    # A refreshes: a new answer, which replaces the live record in the bucket.
    next_second()
    before = shared_stats(a)
    refreshed = a.query("openai", "chat.completions", {**request, "cidcache": {"refresh": True}})
    assert refreshed not in (first, oldest)
    wait_uploads(a, before["shared_uploads"] + 1, before)
    assert record_of(store, bucket, refreshed)["content_cid"] == cid(refreshed)

    # B has never seen it: the bucket gives it the refreshed answer.
    b = shared_mount(store, bucket)
    assert b.query("openai", "chat.completions", request) == refreshed
    assert outcomes(b) == ["shared"]

    # C pushes its older answer: the newer record stays.
    assert c.stop() == 0
    push(c, store, bucket, team_key, tmp_path / "push.json")
    assert record_of(store, bucket, refreshed)["content_cid"] == cid(refreshed)
    d = shared_mount(store, bucket)
    assert d.query("openai", "chat.completions", request) == refreshed
    assert outcomes(d) == ["shared"]
    assert len(fake.calls_to("/chat/completions")) == 3


def record_of(store, bucket, body):
    """The one record in the bucket, `body` among the blobs (a replaced answer's blob stays behind)."""
    objects = store.objects(bucket)
    records = [raw for key, raw in objects.items() if "/v1/idx/" in key]
    assert len(records) == 1 and body in objects.values(), sorted(objects)
    return json.loads(records[0])
