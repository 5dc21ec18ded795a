"""The log, errors and stats files."""
import json
import os

from cidlib import cid, request_cid
from conftest import chat

LOG_FIELDS = {"time", "namespace", "op", "request_cid", "cid", "outcome", "ms", "bytes", "pid"}


def test_a_log_line_per_transaction(mount):
    request = chat("logged")
    body = mount.query("openai", "chat.completions", request)
    mount.query("openai", "chat.completions", request)
    lines = mount.json_lines("log")
    assert [l["outcome"] for l in lines] == ["miss", "hit"]
    for line in lines:
        assert set(line) == LOG_FIELDS
        assert line["request_cid"] == request_cid("openai", "chat.completions", request)
        assert line["cid"] == cid(body) and line["bytes"] == len(body) and line["pid"] == os.getpid()
    # Sizes are exact, so tail and offsets work.
    assert os.stat(mount.p("log")).st_size == len(mount.read("log"))
    with open(mount.p("log"), "rb") as f:
        f.seek(10)
        assert f.read() == mount.read("log")[10:]


def test_stats_figures(mount):
    request = chat("counted")
    mount.query("openai", "chat.completions", request)
    mount.query("openai", "chat.completions", request)
    mount.read("api", "openai", "chat.completions", request_cid("openai", "chat.completions", request))
    stats = mount.stats("openai.json")
    assert stats["misses"] == 1 and stats["hits"] == 2
    assert stats["hit_rate"] == 2 / 3
    assert stats["api_calls_saved"] == 2
    assert stats["entries"] == 1 and stats["bytes_stored"] > 0
    assert stats["tokens_saved"] == 42  # 21 tokens a call, two hits
    assert stats["cost_saved_usd"] > 0
    assert stats["cid_index"]["total_cids"] == 2
    assert stats["bytes_served"] > 0
    total = mount.stats()
    assert total["hits"] == 2 and total["misses"] == 1
    assert os.stat(mount.p("stats", "all.json")).st_size == len(mount.read("stats", "all.json"))
    metrics = mount.read("stats", "metrics.prom").decode()
    assert 'cidcache_hits_total{namespace="openai"} 2' in metrics
    assert 'cidcache_misses_total{namespace="openai"} 1' in metrics
    assert "# TYPE cidcache_entries gauge" in metrics


def test_stats_survive_a_restart(make_mount):
    m = make_mount().start()
    request = chat("persisted")
    m.query("openai", "chat.completions", request)
    m.query("openai", "chat.completions", request)
    assert m.stop() == 0
    m.start()
    assert m.stats("openai.json")["hits"] == 1 and m.stats("openai.json")["misses"] == 1
