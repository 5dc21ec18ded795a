"""What the upstream receives: the caller's own bytes minus the dropped
members (`user`, `metadata`, `store`, `cidcache`), never a re-serialization;
the bearer key and JSON content type; one path per operation."""
import json
import os

import pytest

from cidlib import request_cid
from conftest import TEST_KEY


def is_deletion_of(sent, original):
    """Whether sent is original with some bytes taken out (none added or moved)."""
    rest = iter(original)
    return all(byte in rest for byte in sent)


def pairs(raw):
    return json.loads(raw, object_pairs_hook=lambda items: items)


def test_a_request_without_dropped_fields_goes_up_byte_for_byte(mount, fake):
    raw = b'{"messages":[ {"content":"same bytes \\u00e9\xc3\xa9","role":"user"} ],\n  "model":"gpt-4o-mini" , "temperature":0.0, "top_p":1E0}'
    mount.query("openai", "chat.completions", raw)
    assert fake.bodies("/chat/completions") == [raw]


@pytest.mark.parametrize("raw, removed", [
    # dropped members first, in the middle, last, and all of them
    (b'{"user": "u-1", "model": "gpt-4o-mini", "messages": [{"role": "user", "content": "first"}]}', ["user"]),
    (b'{ "model" : "gpt-4o-mini",\n  "user": "u-1",\n  "messages": [ {"role": "user", "content": "caf\\u00e9"} ],\n'
     b'  "temperature": 0.50, "metadata": {"k": "v", "user": "inner"}, "store": false, "cidcache": {"ttl": 60}\n}',
     ["user", "metadata", "store", "cidcache"]),
    (b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"last"}],"store":true}', ["store"]),
    (b'{"cidcache":{"refresh":true},"metadata":{},"model":"gpt-4o-mini","user":"x","messages":[]}',
     ["cidcache", "metadata", "user"]),
])
def test_dropped_members_are_cut_out_of_the_callers_bytes(mount, fake, raw, removed):
    mount.query("openai", "chat.completions", raw)
    sent = fake.bodies("/chat/completions")[-1]
    kept = [(k, v) for k, v in pairs(raw) if k not in removed]
    # The members kept, in the caller's order, with the caller's spelling of every value.
    assert pairs(sent) == kept
    assert is_deletion_of(sent, raw), sent
    for fragment in (b'"caf\\u00e9"', b"0.50", b'"model" : "gpt-4o-mini"', b'"content": "first"'):
        if fragment in raw:
            assert fragment in sent
    assert len(sent) < len(raw)
    # The key ignores the dropped members too.
    request = json.loads(raw)
    assert os.path.exists(mount.entry("openai", "chat.completions", request))


def test_nested_fields_named_like_dropped_ones_stay(mount, fake):
    raw = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"nested","user":"kept","metadata":{"a":1}}]}'
    mount.query("openai", "chat.completions", raw)
    assert fake.bodies("/chat/completions") == [raw]
    assert os.path.exists(mount.entry("openai", "chat.completions", json.loads(raw)))


def test_dropped_fields_share_one_entry(mount, fake):
    base = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "shared"}]}
    first = mount.query("openai", "chat.completions", {**base, "user": "alice"})
    for variant in ({**base, "user": "bob"}, {**base, "metadata": {"run": "2"}}, {**base, "store": True}, base):
        assert mount.query("openai", "chat.completions", variant) == first
    assert len(fake.calls_to("/chat/completions")) == 1
    assert [line["outcome"] for line in mount.json_lines("log")] == ["miss", "hit", "hit", "hit", "hit"]


def test_headers_and_paths(mount, fake):
    mount.query("openai", "chat.completions", {"model": "gpt-4o-mini", "messages": []})
    mount.query("openai", "completions", {"model": "gpt-3.5-turbo-instruct", "prompt": "p"})
    mount.query("openai", "embeddings", {"model": "text-embedding-3-small", "input": "e"})
    assert [c["path"] for c in fake.calls] == ["/v1/chat/completions", "/v1/completions", "/v1/embeddings"]
    for call in fake.calls:
        headers = {k.lower(): v for k, v in call["headers"].items()}
        assert headers["authorization"] == f"Bearer {TEST_KEY}"
        assert headers["content-type"].split(";")[0].strip() == "application/json"
        assert int(headers["content-length"]) == len(call["body"])


def test_json_equal_but_differently_written_requests_share_an_entry(mount, fake):
    spaced = b'{ "temperature": 0.0, "model": "gpt-4o-mini", "messages": [{"content": "\\u0068i", "role": "user"}] }'
    compact = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"temperature":0}'
    first = mount.query("openai", "chat.completions", spaced)
    assert mount.query("openai", "chat.completions", compact) == first
    assert fake.bodies("/chat/completions") == [spaced]
    rcid = request_cid("openai", "chat.completions", json.loads(compact))
    assert rcid == "bagaaieraowrj4ln7x6wnmjm6ixbtwehijrhokrzxegzqaozk2fw2rkrbxtya"  # docs/REFERENCE.md §2.2
    assert os.path.exists(mount.p("api", "openai", "chat.completions", rcid))
