"""What survives an unmount and a remount on the same data dir: entries with
their bytes, times and xattrs, cid/ files, statistics; what does not: an
entry past its expiry."""
import json
import os
import time

from cidlib import cid, request_cid
from conftest import chat

XATTRS = ("user.cidcache.cid", "user.cidcache.request", "user.cidcache.upstream", "user.cidcache.expires",
          "user.cidcache.ttl")


def snapshot(m, request, op="chat.completions"):
    path = m.entry("openai", op, request)
    st = os.stat(path)
    return {"bytes": m.read("api", "openai", op, os.path.basename(path)), "size": st.st_size,
            "mtime": int(st.st_mtime), **{name: os.getxattr(path, name) for name in XATTRS}}


def test_entries_survive_a_remount_unchanged(make_mount, fake):
    m = make_mount().start()
    chat_request = chat("persist entry")
    embed_request = {"model": "text-embedding-3-small", "input": "persist"}
    m.query("openai", "chat.completions", chat_request)
    m.query("openai", "embeddings", embed_request)
    before = [snapshot(m, chat_request), snapshot(m, embed_request, "embeddings")]
    listing = sorted(os.listdir(m.p("cid")))
    assert m.stop() == 0
    m.start()
    assert [snapshot(m, chat_request), snapshot(m, embed_request, "embeddings")] == before
    assert sorted(os.listdir(m.p("cid"))) == listing
    for name in listing:
        assert cid(m.read("cid", name), 0x55 if name.startswith("bafk") else 0x0200) == name
    assert len(fake.calls) == 2


def test_stats_and_entries_count_across_remounts(make_mount, fake):
    m = make_mount().start()
    request = chat("persist stats")
    for _ in range(3):
        m.query("openai", "chat.completions", request)
    m.stop()
    m.start()
    m.query("openai", "chat.completions", request)
    stats = m.stats("openai.json")
    assert (stats["misses"], stats["hits"], stats["entries"]) == (1, 3, 1)
    assert stats["tokens_saved"] == 63 and stats["api_calls_saved"] == 3
    assert m.stats()["hits"] == 3
    assert 'cidcache_hits_total{namespace="openai"} 3' in m.read("stats", "metrics.prom").decode()
    assert len(fake.calls) == 1


def test_what_expired_while_unmounted_is_gone(make_mount, fake):
    m = make_mount().start()
    request = chat("expire offline")
    m.query("openai", "chat.completions", {**request, "cidcache": {"ttl": 1}})
    m.stop()
    time.sleep(1.2)
    m.start()
    assert not os.path.exists(m.entry("openai", "chat.completions", request))
    m.query("openai", "chat.completions", request)
    assert len(fake.calls) == 2


def test_a_cli_query_without_the_mount_is_a_hit_after_it(make_mount, fake):
    m = make_mount().start()
    request = chat("cli after mount")
    body = m.query("openai", "chat.completions", request)
    m.stop()
    result = m.cli("query", "openai", "chat.completions", "--meta", stdin=json.dumps(request).encode())
    assert result.stdout == body
    assert "outcome=hit" in result.stderr.decode()
    assert f"request_cid={request_cid('openai', 'chat.completions', request)}" in result.stderr.decode()
    assert len(fake.calls) == 1


def test_small_bodies_stored_as_files_by_an_earlier_version_are_served(make_mount, fake):
    """Before the index kept small bodies itself, every body was a file under
    blobs/: such a store is served as it is."""
    import sqlite3
    m = make_mount().start()
    request = chat("stored as a file")
    body = m.query("openai", "chat.completions", request)
    m.stop()
    content = cid(body)
    folder = os.path.join(m.data, "blobs", content[-3:-1])
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, content), "wb") as f:
        f.write(body)
    with sqlite3.connect(os.path.join(m.data, "index.sqlite")) as db:
        assert db.execute("UPDATE blobs SET inline = NULL WHERE cid = ?", (content,)).rowcount == 1
    m.start()
    assert m.read("api", "openai", "chat.completions", request_cid("openai", "chat.completions", request)) == body
    assert m.read("cid", content) == body
    assert m.query("openai", "chat.completions", request) == body
    assert m.json_lines("log")[-1]["outcome"] == "hit"
