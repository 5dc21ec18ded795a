"""cidcache query, cid and stats, through a mount and on their own."""
import json

from cidlib import request_cid
from conftest import chat


def meta(result):
    return dict(line.split("=", 1) for line in result.stderr.decode().splitlines() if "=" in line)


def test_query_through_the_mount(mount, fake):
    request = chat("cli")
    first = mount.cli("query", "openai", "chat.completions", "--meta", stdin=json.dumps(request).encode())
    second = mount.cli("query", "openai", "chat.completions", "--meta", stdin=json.dumps(request).encode())
    assert first.stdout == second.stdout and json.loads(first.stdout)["object"] == "chat.completion"
    assert meta(first)["outcome"] == "miss" and meta(second)["outcome"] == "hit"
    assert meta(first)["request_cid"] == request_cid("openai", "chat.completions", request)
    assert len(fake.calls_to("/chat/completions")) == 1


def test_query_without_a_mount(make_mount, fake):
    m = make_mount()
    with open(m.config_path, "w") as f:
        f.write("{}")
    request = json.dumps(chat("no mount")).encode()
    first = m.cli("query", "openai", "chat.completions", "--meta", stdin=request)
    second = m.cli("query", "openai", "chat.completions", "--meta", stdin=request)
    assert meta(first)["outcome"] == "miss" and meta(second)["outcome"] == "hit"
    assert first.stdout == second.stdout
    failed = m.cli("query", "openai", "chat.completions", stdin=b"[1]", check=False)
    assert failed.returncode != 0 and b"EINVAL" in failed.stderr


def test_cid_and_stats(mount):
    request = chat("cid command")
    assert mount.cli("cid", "openai", "chat.completions", stdin=json.dumps(request).encode()).stdout.decode().strip() \
        == request_cid("openai", "chat.completions", request)
    mount.query("openai", "chat.completions", request)
    table = mount.cli("stats").stdout.decode()
    assert "hits" in table and "openai" in table


def test_meta_names_the_content_and_the_outcome(mount, fake):
    from cidlib import cid
    request = json.dumps(chat("meta lines")).encode()
    first = mount.cli("query", "openai", "chat.completions", "--meta", stdin=request)
    assert meta(first)["cid"] == cid(first.stdout)
    body = mount.query("openai", "chat.completions", request)
    assert body == first.stdout
    assert mount.json_lines("log")[-1]["outcome"] == "hit"
    # The CLI went through the mount: its transaction is in the mount's log.
    assert [line["outcome"] for line in mount.json_lines("log")] == ["miss", "hit"]
    plain = mount.cli("query", "openai", "chat.completions", stdin=request)
    assert plain.stdout == body and "outcome=" not in plain.stderr.decode()


def test_cid_ignores_dropped_fields_and_spelling(mount):
    plain = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "temperature": 0}
    expected = "bagaaieraowrj4ln7x6wnmjm6ixbtwehijrhokrzxegzqaozk2fw2rkrbxtya"  # docs/REFERENCE.md §2.2
    for raw in (json.dumps(plain).encode(),
                b'{"temperature": 0.0, "user": "x", "messages": [{"content": "\\u0068i", "role": "user"}],'
                b' "model": "gpt-4o-mini", "cidcache": {"ttl": 5}, "store": true, "metadata": {}}'):
        assert mount.cli("cid", "openai", "chat.completions", stdin=raw).stdout.decode().strip() == expected
    embed = {"model": "text-embedding-3-small", "input": "x"}
    assert mount.cli("cid", "openai", "embeddings", stdin=json.dumps(embed).encode()).stdout.decode().strip() \
        == request_cid("openai", "embeddings", embed)


def test_cid_refuses_what_the_mount_refuses(mount):
    for raw in (b"[1]", b'{"a": 1, "a": 2}', b'{"n": 9007199254740993}', b"{nope"):
        result = mount.cli("cid", "openai", "chat.completions", stdin=raw, check=False)
        assert result.returncode != 0 and not result.stdout.strip()


def test_cli_errors_name_the_errno(mount):
    result = mount.cli("query", "openai", "chat.completions", stdin=json.dumps(chat("x", model="fail-429")).encode(),
                       check=False)
    assert result.returncode != 0 and b"EBUSY" in result.stderr and not result.stdout
    result = mount.cli("query", "nope", "chat.completions", stdin=b"{}", check=False)
    assert result.returncode != 0


def test_stats_table_after_traffic(mount):
    request = chat("table")
    mount.query("openai", "chat.completions", request)
    mount.query("openai", "chat.completions", request)
    table = mount.cli("stats").stdout.decode()
    assert "hits" in table and "openai" in table
