"""TTLs of docs/REFERENCE.md §8, seen in the xattrs and the entry's mtime."""
import os
import time

from cidlib import request_cid
from conftest import chat


def ttl_of(mount, op, request):
    path = mount.p("api", "openai", op, request_cid("openai", op, request))
    expires = int(os.getxattr(path, "user.cidcache.expires"))
    assert expires == int(os.stat(path).st_mtime) + int(os.getxattr(path, "user.cidcache.ttl"))
    return int(os.getxattr(path, "user.cidcache.ttl"))


def test_temperature_zero_lives_an_hour(mount):
    request = chat("ttl 0", temperature=0)
    mount.query("openai", "chat.completions", request)
    assert ttl_of(mount, "chat.completions", request) == 3600


def test_other_temperatures_live_half_an_hour(mount):
    for request in (chat("ttl 0.7", temperature=0.7), {"model": "m", "messages": []}):
        mount.query("openai", "chat.completions", request)
        assert ttl_of(mount, "chat.completions", request) == 1800


def test_embeddings_live_a_day(mount):
    request = {"model": "text-embedding-3-small", "input": "ttl"}
    mount.query("openai", "embeddings", request)
    assert ttl_of(mount, "embeddings", request) == 86400


def test_config_overrides_a_ttl(make_mount):
    m = make_mount(ttl={"openai": {"embeddings": 60}}).start()
    request = {"model": "text-embedding-3-small", "input": "override"}
    m.query("openai", "embeddings", request)
    assert ttl_of(m, "embeddings", request) == 60


def test_expired_entries_vanish_and_refetch(mount, fake):
    request = chat("expiring", cidcache={"ttl": 1})
    mount.query("openai", "chat.completions", request)
    path = mount.p("api", "openai", "chat.completions", request_cid("openai", "chat.completions", request))
    assert os.path.exists(path)
    time.sleep(2.1)
    assert not os.path.exists(path)
    assert request_cid("openai", "chat.completions", request) not in os.listdir(os.path.dirname(path))
    mount.query("openai", "chat.completions", request)
    assert len(fake.calls_to("/chat/completions")) == 2


def test_completions_live_an_hour(mount):
    request = {"model": "gpt-3.5-turbo-instruct", "prompt": "ttl", "temperature": 0.7}
    mount.query("openai", "completions", request)
    assert ttl_of(mount, "completions", request) == 3600


def test_temperature_written_as_0_0_is_zero(mount, fake):
    raw = b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "zero point zero"}], "temperature": 0.0}'
    mount.query("openai", "chat.completions", raw)
    request = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "zero point zero"}], "temperature": 0}
    assert ttl_of(mount, "chat.completions", request) == 3600
    mount.query("openai", "chat.completions", request)
    assert len(fake.calls_to("/chat/completions")) == 1


def test_temperatures_that_are_not_zero_numbers(mount):
    for temperature in (None, "0", False, 1e-9, 2):
        request = chat(f"ttl {temperature!r}", temperature=temperature)
        mount.query("openai", "chat.completions", request)
        assert ttl_of(mount, "chat.completions", request) == 1800, temperature


def test_expires_counts_from_the_fetch(mount):
    before = int(time.time())
    request = {"model": "text-embedding-3-small", "input": "expires"}
    mount.query("openai", "embeddings", request)
    after = int(time.time()) + 1
    path = mount.entry("openai", "embeddings", request)
    assert before <= os.stat(path).st_mtime <= after
    assert before + 86400 <= int(os.getxattr(path, "user.cidcache.expires")) <= after + 86400


def test_control_ttl_overrides_the_rule(mount):
    request = chat("ttl control", temperature=0)
    mount.query("openai", "chat.completions", {**request, "cidcache": {"ttl": 7}})
    assert ttl_of(mount, "chat.completions", request) == 7
