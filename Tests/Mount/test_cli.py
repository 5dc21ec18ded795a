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
