"""Queries through the mount: miss then hit, the entry, cid/, listings."""
import hashlib
import json
import os

from cidlib import JSON_CODEC, cid, key_document, request_cid
from conftest import chat


def test_miss_then_hit_with_one_upstream_call(mount, fake):
    request = chat("miss then hit")
    first = mount.query("openai", "chat.completions", request)
    second = mount.query("openai", "chat.completions", request)
    assert first == second
    assert json.loads(first)["object"] == "chat.completion"
    assert len(fake.calls_to("/chat/completions")) == 1
    outcomes = [line["outcome"] for line in mount.json_lines("log")]
    assert outcomes == ["miss", "hit"]


def test_entry_file_bytes_size_and_xattrs(mount):
    request = chat("entry file")
    body = mount.query("openai", "chat.completions", request)
    rcid = request_cid("openai", "chat.completions", request)
    path = mount.p("api", "openai", "chat.completions", rcid)
    assert mount.read("api", "openai", "chat.completions", rcid) == body
    st = os.stat(path)
    assert st.st_size == len(body)
    assert oct(st.st_mode & 0o777) == "0o444"
    xattrs = {name: os.getxattr(path, name).decode() for name in os.listxattr(path)}
    assert xattrs["user.cidcache.cid"] == cid(body)
    assert xattrs["user.cidcache.request"] == rcid
    assert len(xattrs["user.cidcache.upstream"]) >= 8
    assert int(xattrs["user.cidcache.expires"]) == int(st.st_mtime) + int(xattrs["user.cidcache.ttl"])
    assert int(xattrs["user.cidcache.hits"]) >= 1
    assert "user.cidcache.stale" not in xattrs
    try:
        os.getxattr(path, "user.cidcache.nope")
        raise AssertionError("unknown xattr answered")
    except OSError as error:
        assert error.errno == 61  # ENODATA


def test_cid_files_match_their_cids(mount):
    request = chat("cid files")
    body = mount.query("openai", "chat.completions", request)
    body_cid = cid(body)
    rcid = request_cid("openai", "chat.completions", request)
    assert mount.read("cid", body_cid) == body
    document = mount.read("cid", rcid)
    assert document == key_document("openai", "chat.completions", request)
    assert cid(document, JSON_CODEC) == rcid
    listed = os.listdir(mount.p("cid"))
    assert body_cid in listed and rcid in listed
    for name in listed:
        data = mount.read("cid", name)
        codec = JSON_CODEC if name.startswith("baga") else 0x55
        assert cid(data, codec) == name
    assert not os.path.exists(mount.p("cid", "bafkreinotacid"))
    assert not os.path.exists(mount.p("cid", "README"))


def test_ls_at_every_level(mount):
    assert sorted(os.listdir(mount.path)) == ["README", "api", "cid", "ctl", "errors", "log", "stats"]
    assert {"openai", "groq", "vllm"} <= set(os.listdir(mount.p("api")))
    assert sorted(os.listdir(mount.p("api", "openai"))) == ["chat.completions", "completions", "embeddings", "responses"]
    assert os.listdir(mount.p("api", "openai", "embeddings")) == ["query"]
    assert {"all.json", "openai.json", "metrics.prom"} <= set(os.listdir(mount.p("stats")))
    mount.query("openai", "embeddings", {"model": "text-embedding-3-small", "input": "x"})
    assert len(os.listdir(mount.p("api", "openai", "embeddings"))) == 2
    assert b"api/NS/OP/query" in mount.read("README")


def test_listing_pages_through_many_entries(mount):
    for i in range(150):
        mount.query("openai", "embeddings", {"model": "text-embedding-3-small", "input": f"page {i}"})
    names = os.listdir(mount.p("api", "openai", "embeddings"))
    assert len(names) == 151 and len(set(names)) == 151


def test_upstream_receives_the_callers_bytes_minus_dropped_fields(mount, fake):
    raw = b'{"model": "gpt-4o-mini",  "user": "u-1", "messages": [{"role":"user","content":"bytes"}], "metadata": {"a": 1}, "cidcache": {"ttl": 60}}'
    mount.query("openai", "chat.completions", raw)
    sent = fake.calls_to("/chat/completions")[-1]
    # The caller's own bytes: its spacing and member order, minus the dropped members.
    assert sent["body"].startswith(b'{"model": "gpt-4o-mini",')
    assert b'"messages": [{"role":"user","content":"bytes"}]' in sent["body"]
    assert json.loads(sent["body"]) == {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "bytes"}]}
    assert sent["headers"]["Authorization"] == "Bearer sk-test-not-a-real-key-0001"
    # The dropped fields do not change the key.
    plain = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "bytes"}]}
    assert os.path.exists(mount.p("api", "openai", "chat.completions", request_cid("openai", "chat.completions", plain)))


def test_answer_changing_fields_stay_in_the_key(mount, fake):
    for extra in ({}, {"max_tokens": 5}, {"seed": 1}, {"n": 1}, {"stream": False}, {"top_p": 0.5}):
        mount.query("openai", "chat.completions", chat("fields", **extra))
    assert len(fake.calls_to("/chat/completions")) == 6


def test_control_object(mount, fake):
    request = chat("control")
    mount.query("openai", "chat.completions", request)
    mount.query("openai", "chat.completions", {**request, "cidcache": {"refresh": True}})
    assert len(fake.calls_to("/chat/completions")) == 2
    mount.query("openai", "chat.completions", {**request, "cidcache": {"ttl": 42, "refresh": True}})
    path = mount.p("api", "openai", "chat.completions", request_cid("openai", "chat.completions", request))
    assert os.getxattr(path, "user.cidcache.ttl") == b"42"
    unstored = chat("not stored")
    mount.query("openai", "chat.completions", {**unstored, "cidcache": {"no_store": True}})
    assert not os.path.exists(mount.p("api", "openai", "chat.completions", request_cid("openai", "chat.completions", unstored)))
    assert mount.stats("openai.json")["bypassed"] == 1
    assert mount.query_errno("openai", "chat.completions", {**request, "cidcache": {"bogus": 1}}) == "EINVAL"


def test_compatible_namespaces(mount, fake):
    mount.query("groq", "chat.completions", chat("groq"))
    mount.query("vllm", "completions", {"model": "m", "prompt": "hi"})
    assert len(fake.calls_to("/chat/completions")) == 1
    assert len(fake.calls_to("/completions")) == 1


def test_config_adds_a_namespace(make_mount, fake):
    m = make_mount(namespaces={"local": {"family": "openai", "url": fake.url, "key_env": "LOCAL_TEST_KEY"}})
    m.env["LOCAL_TEST_KEY"] = "sk-test-not-a-real-key-0001"
    m.start()
    m.query("local", "chat.completions", chat("local"))
    assert len(fake.calls_to("/chat/completions")) == 1
    assert "local" in os.listdir(m.p("api"))
