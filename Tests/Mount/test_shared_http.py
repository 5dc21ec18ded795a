"""The shared tier through the HTTP front (issues 12 and 13): a caller's own
credential scopes what it reads and writes in the bucket exactly as a
configured one does. Machines A and B serve HTTP with no GitHub token of
their own, sharing one bucket on moto; callers bring theirs."""
import json

import httpx

from fake_failing_upstreams import failing  # noqa: F401 (fixture)
from fake_failing_upstreams import KEYS, MESSAGE, point_at
from fake_infra_http import TOKEN_A, TOKEN_B
from http_front import start_front
from shared_support import only_record, publish, scan, shared_stats, wait_uploads
from shared_support import end_store_leftovers, moto, shared_mount, team_key  # noqa: F401 (fixtures, used by name)


def serving_http(shared_mount, store, bucket, infra):
    m = shared_mount(store, bucket, start=False)
    m.env.update({"CIDCACHE_GITHUB_URL": infra.github_url})
    return start_front(m)


def test_a_callers_own_token_scopes_the_shared_tier(moto, shared_mount, infra):
    bucket = moto.create_bucket()
    a, b = (serving_http(shared_mount, moto, bucket, infra) for _ in range(2))
    alice, bob = ({"Authorization": f"Bearer {token}"} for token in (TOKEN_A, TOKEN_B))
    before = shared_stats(a)
    first = httpx.get(f"{a.url}/github/user/repos", headers=alice)
    assert first.headers["x-cidcache"] == "miss" and "secret-alice" in first.text
    wait_uploads(a, 1, before)
    # Alice's token on another machine: her answer, from the bucket.
    shared = httpx.get(f"{b.url}/github/user/repos", headers=alice)
    assert shared.headers["x-cidcache"] == "shared" and shared.content == first.content
    # Bob's token on that machine: never Alice's answer; his own, from GitHub.
    other = httpx.get(f"{b.url}/github/user/repos", headers=bob)
    assert other.headers["x-cidcache"] == "miss" and "alice" not in other.text
    assert len(infra.calls_to("/gh/user/repos")) == 2
    # In the bucket, Alice's answer is sealed: no object holds it or a token.
    assert scan(moto.objects(bucket), [b"secret-alice", TOKEN_A.encode(), TOKEN_B.encode()]) == []


def test_a_shared_answer_keeps_the_upstreams_content_type(moto, shared_mount, failing):
    """A stream request the upstream answered with whole JSON: the record
    carries its content type, and another machine serves it as JSON."""
    bucket = moto.create_bucket()
    a, b = (shared_mount(moto, bucket, start=False) for _ in range(2))
    for m in (a, b):
        point_at(m.env, failing)
    a.start()
    b = start_front(b)
    request = {"model": "claude-3-5-haiku-latest", "max_tokens": 64, "stream": True,
               "messages": [{"role": "user", "content": "hello"}]}
    assert json.loads(publish(a, request, "anthropic", "messages")) == MESSAGE
    _, record, _, _ = only_record(moto, bucket)
    assert record["content_type"] == "application/json"
    shared = httpx.post(f"{b.url}/anthropic/v1/messages", json=request, headers={"x-api-key": KEYS["anthropic"]})
    assert (shared.headers["x-cidcache"], shared.headers["content-type"]) == ("shared", "application/json")
    assert shared.json() == MESSAGE and len(failing.calls_to("/anthropic/")) == 1
