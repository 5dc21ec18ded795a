"""What the shared tier (issue 12) trusts, on moto's server (the poisonings on a
shared directory too, issue 19: the same checks above another store): a replaced
blob, an edited record (expires, content_cid), an unsigned one, one signed by
an untrusted key, one stored under another request, one that is not JSON, one
older than `not_before`: each refused, counted, an `errors` line, answered
correctly from the upstream; an expired record (re-signed here, or past the
short TTL its writer gave it) is a miss; a record re-signed here by a key B
trusts is served (the control). Fixtures: shared_support.py.
"""
import os
import time
import uuid

import pytest

from cidlib import cid, jcs, request_cid
from conftest import chat
from shared_support import (
    OTHER_TRUSTED,
    PREFIX,
    UNTRUSTED,
    answer_text,
    metric,
    only_record,
    outcomes,
    public_line,
    publish,
    scope_of,
    shared_errors,
    shared_stats,
    signed,
    wait_until,
)
from shared_support import directory, end_store_leftovers, moto, shared_mount, store, team_key  # noqa: F401 (fixtures)


POISONINGS = ["blob_replaced", "record_expires_edited", "record_content_cid_edited", "record_unsigned",
              "record_untrusted_key", "record_for_another_request", "record_not_json", "not_before"]


def published(store, shared_mount, label):
    """A fresh bucket in which machine A has published one chat answer: the
    bucket, the request, the answer, and the one record and blob (parsed record)."""
    bucket = store.create_bucket()
    request = chat(f"{label} {uuid.uuid4().hex}")
    body = publish(shared_mount(store, bucket), request)
    return (bucket, request, body) + only_record(store, bucket)


@pytest.mark.parametrize("poisoning", POISONINGS)
def test_a_poisoned_entry_is_refused_and_answered_from_the_upstream(store, shared_mount, fake, poisoning):
    bucket, request, body, record_key, record, blob_key, blob = published(store, shared_mount, f"poisoned {poisoning}")
    poison = body.replace(b"answer", b"POISON")
    assert len(poison) == len(body) and poison != body
    asked, shared = request, {}
    if poisoning == "blob_replaced":
        store.put(bucket, blob_key, poison)  # same size, other bytes: only the CID tells
    elif poisoning == "record_expires_edited":
        store.put(bucket, record_key, jcs(dict(record, expires=record["expires"] + 365 * 86400)).encode())
    elif poisoning == "record_content_cid_edited":
        store.put(bucket, f"{PREFIX}/v1/blob/{cid(poison)}", poison)  # a blob that matches its own CID
        store.put(bucket, record_key, jcs(dict(record, content_cid=cid(poison))).encode())
    elif poisoning == "record_unsigned":
        store.put(bucket, record_key, jcs({k: v for k, v in record.items() if k not in ("sig", "key_id")}).encode())
    elif poisoning == "record_untrusted_key":
        store.put(bucket, f"{PREFIX}/v1/blob/{cid(poison)}", poison)
        store.put(bucket, record_key, signed(dict(record, content_cid=cid(poison)), UNTRUSTED))
    elif poisoning == "record_for_another_request":
        # A's genuine record, copied under the key of another request.
        asked = chat(f"another request {uuid.uuid4().hex}")
        other = request_cid("openai", "chat.completions", asked)
        store.put(bucket, f"{PREFIX}/v1/idx/{scope_of(record_key)}/{other}", store.get(bucket, record_key))
    elif poisoning == "record_not_json":
        store.put(bucket, record_key, b"\x00not a record\xff" + store.get(bucket, record_key)[:40])
    elif poisoning == "not_before":
        shared = {"not_before": record["created"] + 1}
    # B only reads: what a writer does on finding a bad object in its way is another question.
    b = shared_mount(store, bucket, upload=False, **shared)
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
    bucket, request, body, record_key, record, _, _ = published(moto, shared_mount, "re-signed")
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
    bucket, request, body, record_key, record, _, _ = published(moto, shared_mount, "expired")
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
