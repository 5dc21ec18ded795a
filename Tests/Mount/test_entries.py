"""Entry files and cid/ files beyond the basics of test_query.py: hit counts,
read-only files, refetch times, key documents of unusual requests, xattrs
on files that are not entries."""
import errno
import json
import os
import time

import pytest

from cidlib import JSON_CODEC, cid, key_document, request_cid
from conftest import chat


def test_each_open_of_an_entry_is_a_hit(mount):
    request = chat("hit count")
    body = mount.query("openai", "chat.completions", request)
    path = mount.entry("openai", "chat.completions", request)
    counts = []
    for _ in range(3):
        fd = os.open(path, os.O_RDONLY)
        try:
            assert os.read(fd, 1 << 16) == body
            counts.append(int(os.getxattr(fd, "user.cidcache.hits")))
        finally:
            os.close(fd)
    assert counts[0] >= 1 and counts == [counts[0], counts[0] + 1, counts[0] + 2]
    assert mount.stats("openai.json")["hits"] == 3


def test_entries_are_read_only(mount):
    request = chat("read only")
    mount.query("openai", "chat.completions", request)
    path = mount.entry("openai", "chat.completions", request)
    for flags in (os.O_WRONLY, os.O_RDWR, os.O_WRONLY | os.O_TRUNC):
        with pytest.raises(OSError) as failure:
            os.open(path, flags)
        assert failure.value.errno in (errno.EACCES, errno.EROFS, errno.EPERM)
    with pytest.raises(OSError):
        os.setxattr(path, "user.cidcache.ttl", b"1")
    for name in ("bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e", "fresh"):
        with pytest.raises(OSError):
            os.close(os.open(mount.p("api", "openai", "chat.completions", name), os.O_WRONLY | os.O_CREAT, 0o644))


def test_refresh_refetches_with_a_new_mtime(mount, fake):
    request = chat("refresh mtime")
    body = mount.query("openai", "chat.completions", request)
    path = mount.entry("openai", "chat.completions", request)
    first = os.stat(path)
    time.sleep(1.1)
    assert mount.read("api", "openai", "chat.completions", os.path.basename(path)) == body
    assert os.stat(path).st_mtime == first.st_mtime  # reading is no refetch
    assert mount.query("openai", "chat.completions", {**request, "cidcache": {"refresh": True}}) == body
    assert len(fake.calls_to("/chat/completions")) == 2
    again = os.stat(path)
    assert again.st_mtime > first.st_mtime and again.st_size == len(body)
    assert int(os.getxattr(path, "user.cidcache.expires")) == int(again.st_mtime) + 3600


def test_key_document_of_an_unusual_request(mount):
    raw = ('{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "\\u20ac \\ud83d\\ude02 \u00f6\\n"}],'
           ' "temperature": 1.50, "top_p": 1E-1, "logit_bias": {"\u00f6": -100, "1": 2, "\ufb33": 0.0, "\U0001f602": 1},'
           ' "user": "dropped", "n": 1}').encode()
    mount.query("openai", "chat.completions", raw)
    request = json.loads(raw)
    rcid = request_cid("openai", "chat.completions", request)
    document = mount.read("cid", rcid)
    assert document == key_document("openai", "chat.completions", {k: v for k, v in request.items() if k != "user"})
    assert b'"temperature":1.5' in document and b'"top_p":0.1' in document
    assert cid(document, JSON_CODEC) == rcid
    assert os.stat(mount.p("cid", rcid)).st_size == len(document)
    assert os.path.exists(mount.p("api", "openai", "chat.completions", rcid))


def test_cid_files_are_read_only_and_sized(mount):
    body = mount.query("openai", "embeddings", {"model": "text-embedding-3-small", "input": "sized"})
    path = mount.p("cid", cid(body))
    assert os.stat(path).st_size == len(body)
    with pytest.raises(OSError) as failure:
        os.open(path, os.O_WRONLY)
    assert failure.value.errno in (errno.EACCES, errno.EROFS, errno.EPERM)
    with pytest.raises(OSError) as failure:
        os.stat(mount.p("cid", "bafkrei" + "a" * 52))
    assert failure.value.errno == errno.ENOENT


@pytest.mark.parametrize("parts", [(), ("README",), ("api",), ("api", "openai", "chat.completions", "query"),
                                   ("stats", "all.json"), ("ctl",), ("log",)])
def test_xattrs_elsewhere_answer_enodata_never_enosys(mount, parts):
    path = mount.p(*parts)
    assert all(not name.startswith("user.cidcache.") or parts[:1] == ("cid",) for name in os.listxattr(path))
    with pytest.raises(OSError) as failure:
        os.getxattr(path, "user.cidcache.cid")
    assert failure.value.errno == errno.ENODATA
    with pytest.raises(OSError) as failure:
        os.getxattr(path, "user.something.else")
    assert failure.value.errno == errno.ENODATA


def test_dynamic_files_report_their_size(mount):
    mount.query("openai", "chat.completions", chat("sizes"))
    for parts in (("README",), ("stats", "all.json"), ("stats", "openai.json"), ("stats", "metrics.prom"), ("log",)):
        assert os.stat(mount.p(*parts)).st_size == len(mount.read(*parts)), parts
