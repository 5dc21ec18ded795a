"""The shared tier (issue 12) on moto's server (the first test on a shared
directory too, issue 19): a miss on machine A is a
`shared` answer on B, byte-identical, with one upstream call in total, then a
local `hit` on B; plain, streamed, large, and a credential-scoped family
(github): the same token shares, another does not, and no object holds the
answer's plaintext, the token or the prompt; the bucket's layout and signed
record checked independently here (RFC 8785 JSON, Ed25519 over the record's
domain-separated bytes); a record whose body is gone; private operations
and `no_store` answers never leave the machine; `--offline` reads the shared
tier; `cidcache push` seeds a bucket. Fixtures: shared_support.py.
"""
import json
import os
import re
import time
import uuid

import pytest

from cidlib import cid, request_cid
from conftest import chat
from fake_infra_http import TOKEN_A, TOKEN_B
from shared_support import (
    PREFIX,
    SCOPE_CREDENTIAL,
    SCOPE_PUBLIC,
    layout,
    metric,
    only_record,
    outcomes,
    publish,
    push,
    scan,
    scope_of,
    shared_errors,
    shared_stats,
    verify,
    with_infra,
)
from shared_support import directory, end_store_leftovers, moto, shared_mount, store, team_key  # noqa: F401 (fixtures)


def test_a_miss_on_one_machine_is_a_shared_hit_on_another(store, shared_mount, fake, team_key):
    bucket = store.create_bucket()
    a, b = shared_mount(store, bucket), shared_mount(store, bucket)
    for m in (a, b):
        assert shared_stats(m) == {"shared_hits": 0, "shared_misses": 0, "shared_uploads": 0,
                                   "shared_upload_errors": 0, "shared_upload_dropped": 0, "shared_rejected": 0,
                                   "shared_errors": 0, "shared_read_breaker": "closed",
                                   "shared_write_breaker": "closed"}
    prompt = f"prompt-marker-{uuid.uuid4().hex}"
    request = chat(prompt)
    body = publish(a, request)
    a_line = a.json_lines("log")[-1]
    assert shared_stats(a)["shared_misses"] == 1 and shared_stats(a)["shared_uploads"] == 1

    # The layout and the record, checked independently.
    record_key, record, blob_key, blob = only_record(store, bucket)
    assert blob_key == f"{PREFIX}/v1/blob/{cid(body)}" and blob == body, "a public blob is the plain answer"
    scope = scope_of(record_key)
    assert SCOPE_PUBLIC.fullmatch(scope), record_key
    assert record_key == f"{PREFIX}/v1/idx/{scope}/{a_line['request_cid']}"
    assert a_line["request_cid"] == request_cid("openai", "chat.completions", request)
    raw = store.get(bucket, record_key)
    record = verify(raw, team_key.public)
    assert record["v"] == 1 and record["scope"] == scope and record["request_cid"] == a_line["request_cid"]
    assert record["content_cid"] == cid(body) == a_line["cid"] and record["size"] == len(body)
    assert isinstance(record["upstream"], str) and record["upstream"]
    now = time.time()
    assert record["created"] <= now + 1 and abs(record["expires"] - record["created"] - 3600) <= 1  # temperature 0
    assert set(record) <= {"v", "upstream", "scope", "request_cid", "content_cid", "size", "created", "expires",
                           "tokens", "cost_usd", "content_type", "key_id", "sig"}
    assert record["content_type"].startswith("application/json"), "the upstream's own content type"
    # The prompt (the request body) never leaves the machine.
    assert not scan(store.objects(bucket), [prompt.encode()])

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
    assert stats["shared_read_breaker"] == stats["shared_write_breaker"] == "closed"
    assert metric(b, "cidcache_shared_hits_total") == 1
    for direction in ("read", "write"):
        assert metric(b, f'cidcache_shared_breaker{{direction="{direction}",state="closed"}}') == 1
        assert metric(b, f'cidcache_shared_breaker{{direction="{direction}",state="open"}}') == 0
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
    # More than the four uploads push runs at once.
    requests = [chat(f"pushed {i} {uuid.uuid4().hex}") for i in range(8)]
    requests.append(chat(f"pushed stream {uuid.uuid4().hex}", stream=True))
    bodies = [a.query("openai", "chat.completions", r) for r in requests]
    # Stored, never live (TTL 0): not pushed.
    expired = chat(f"stored expired {uuid.uuid4().hex}", cidcache={"ttl": 0})
    a.query("openai", "chat.completions", expired)
    assert a.stats("openai.json")["entries"] == 10  # expired entries stay in the index
    assert "shared_uploads" not in a.stats(), "no shared keys without a shared section"
    if daemon == "stopped":
        assert a.stop() == 0
    result = push(a, moto, bucket, team_key, tmp_path / "push.json")
    assert re.search(rb"\b9\b", result.stdout), result.stdout
    records, blobs = layout(moto, bucket)
    assert len(records) == 9 and sorted(blobs.values()) == sorted(bodies)
    for raw in records.values():
        verify(raw, team_key.public)
    b = shared_mount(moto, bucket)
    assert [b.query("openai", "chat.completions", r) for r in requests] == bodies
    assert outcomes(b) == ["shared"] * 9
    assert len(fake.calls_to("/chat/completions")) == 10


# moto: poisoning
