"""What the infra namespaces' mount tests share (test_infra_http.py,
test_infra_codeql_ipfs.py): a mount whose hf, github, codeql and ipfs
namespaces point at fake_infra_http.py, and readers of its entries and logs."""
import os

import pytest

from cidlib import request_cid

ECOSYSTEM = ("HF_TOKEN", "HF_ENDPOINT", "GITHUB_TOKEN", "GH_TOKEN", "GITHUB_API_URL")


@pytest.fixture
def infra_mount(make_mount, infra):
    """A mount whose hf, github, codeql and ipfs namespaces point at the fake."""

    def make(hf_token=None, gh_token=None, start=True, **config):
        m = make_mount(**config)
        for name in ECOSYSTEM:
            m.env.pop(name, None)
        m.env.update({"CIDCACHE_HF_URL": infra.url, "CIDCACHE_GITHUB_URL": infra.github_url,
                      "CIDCACHE_CODEQL_URL": infra.github_url, "CIDCACHE_IPFS_URL": infra.url})
        if hf_token:
            m.env["HF_TOKEN"] = hf_token
        if gh_token:
            m.env["GITHUB_TOKEN"] = gh_token
        return m.start() if start else m

    return make


def entry(m, ns, op, request):
    return m.p("api", ns, op, request_cid(ns, op, request))


def ttl(m, ns, op, request):
    path = entry(m, ns, op, request)
    assert int(os.getxattr(path, "user.cidcache.expires")) == int(os.stat(path).st_mtime) + int(os.getxattr(path, "user.cidcache.ttl"))
    return int(os.getxattr(path, "user.cidcache.ttl"))


def outcomes(m):
    return [line["outcome"] for line in m.json_lines("log")]


def last_error(m):
    return m.json_lines("errors")[-1]


def data_files(m):
    for folder, _, names in os.walk(m.data):
        for name in names:
            with open(os.path.join(folder, name), "rb") as f:
                yield os.path.join(folder, name), f.read()


def assert_no_token_stored(m, *tokens):
    """None of `tokens` is in any file of the data dir."""
    for path, data in data_files(m):
        for token in tokens:
            assert token.encode() not in data, path
