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


COUNTERS = ("hits", "misses", "coalesced", "stale_served", "bypassed", "http_refused", "upstream_errors",
            "evictions", "api_calls_saved", "entries", "bytes_stored", "bytes_served", "latency_saved_ms",
            "tokens_saved")


def test_stats_start_at_zero_with_every_figure(mount):
    for name in ("all.json", "openai.json", "groq.json", "vllm.json"):
        stats = mount.stats(name)
        for counter in COUNTERS:
            assert stats[counter] == 0 and isinstance(stats[counter], int), (name, counter)
        assert stats["hit_rate"] == 0 and stats["cost_saved_usd"] == 0
        assert set(stats["cid_index"]) >= {"total_cids", "total_bytes"}


def test_stats_per_namespace_add_up(mount):
    request = chat("two namespaces")
    for ns in ("openai", "groq"):
        mount.query(ns, "chat.completions", request)
        mount.query(ns, "chat.completions", request)
    mount.query_errno("openai", "chat.completions", chat("x", model="fail-500"))
    openai, groq, total = mount.stats("openai.json"), mount.stats("groq.json"), mount.stats()
    assert (openai["hits"], openai["misses"], openai["upstream_errors"]) == (1, 1, 1)
    assert (groq["hits"], groq["misses"], groq["upstream_errors"]) == (1, 1, 0)
    for counter in ("hits", "misses", "upstream_errors", "entries", "tokens_saved", "api_calls_saved"):
        assert total[counter] == openai[counter] + groq[counter], counter
    assert total["hit_rate"] == 0.5
    metrics = mount.read("stats", "metrics.prom").decode()
    assert 'cidcache_hits_total{namespace="groq"} 1' in metrics
    assert 'cidcache_upstream_errors_total{namespace="openai"} 1' in metrics


def test_price_table_from_the_config(make_mount):
    m = make_mount(prices={"priced-model": {"input_per_mtok": 1000000, "output_per_mtok": 2000000}}).start()
    request = chat("priced", model="priced-model")
    m.query("openai", "chat.completions", request)
    m.query("openai", "chat.completions", request)
    # One hit saved 9 input and 12 output tokens: 9 * 1 + 12 * 2 dollars.
    assert abs(m.stats("openai.json")["cost_saved_usd"] - 33) < 1e-6


def test_log_lines_for_every_outcome(mount):
    request = chat("outcomes")
    mount.query("openai", "chat.completions", request)
    mount.query("openai", "chat.completions", request)
    mount.query("openai", "chat.completions", {**chat("bypass"), "cidcache": {"no_store": True}})
    mount.query_errno("openai", "chat.completions", chat("x", model="fail-400"))
    lines = mount.json_lines("log")
    assert [l["outcome"] for l in lines] == ["miss", "hit", "bypassed", "error"]
    assert all(isinstance(l["ms"], (int, float)) and l["ms"] >= 0 for l in lines)
    assert lines[-1]["request_cid"].startswith("baga")
    # tail -f: the file grows in place and old offsets stay valid.
    size = os.stat(mount.p("log")).st_size
    mount.query("openai", "chat.completions", request)
    with open(mount.p("log"), "rb") as f:
        f.seek(size)
        assert json.loads(f.read())["outcome"] == "hit"
