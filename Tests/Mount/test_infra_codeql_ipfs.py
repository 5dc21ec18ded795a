"""The codeql and ipfs namespaces through a real mount against a loopback fake
of each API (fake_infra_http.py): misses, hits, entries, TTLs, the errno of
each error status, and CodeQL's stale-on-rate-limit."""
import json
import os
import time

from cidlib import request_cid
from fake_infra_http import ANALYSES, CID, OTHER_SHA, SHA, TOKEN_A
from infra_support import entry, infra_mount, last_error, outcomes, ttl  # noqa: F401  (fixture)


# CodeQL

def test_codeql_analyses_of_one_commit(infra_mount, infra):
    m = infra_mount(gh_token=TOKEN_A)
    request = {"owner": "o", "repo": "r", "sha": SHA}
    body = m.query("codeql", "analyses", request)
    analyses = json.loads(body)
    assert [a["id"] for a in analyses] == [203, 204, 205]
    assert all(a["commit_sha"] == SHA for a in analyses)
    assert analyses == [a for a in ANALYSES if a["commit_sha"] == SHA]
    calls = infra.calls_to("/gh/repos/o/r/code-scanning/analyses")
    # Three a page: page 1 (other commit), page 2 (this one), page 3 (older: the end).
    assert [c["path"] for c in calls] == ["/gh/repos/o/r/code-scanning/analyses?per_page=100",
                                          "/gh/repos/o/r/code-scanning/analyses?per_page=3&page=2",
                                          "/gh/repos/o/r/code-scanning/analyses?per_page=3&page=3"]
    assert calls[0]["headers"]["Authorization"] == "Bearer " + TOKEN_A
    assert calls[0]["headers"]["X-GitHub-Api-Version"] == "2022-11-28"
    assert ttl(m, "codeql", "analyses", request) == 86400
    assert m.query("codeql", "analyses", request) == body
    assert outcomes(m) == ["miss", "hit"]
    # Language and tool filters.
    python = json.loads(m.query("codeql", "analyses", {"repo": "o/r", "sha": SHA, "language": "python"}))
    assert [a["id"] for a in python] == [203]
    semgrep = json.loads(m.query("codeql", "analyses", {"repo": "o/r", "sha": SHA, "tool_name": "Semgrep"}))
    assert [a["id"] for a in semgrep] == [205]
    assert infra.calls[-1]["path"].startswith("/gh/repos/o/r/code-scanning/analyses?tool_name=Semgrep&per_page=100")
    # Later pages keep the query the links carry.
    on_main = json.loads(m.query("codeql", "analyses", {"repo": "o/r", "sha": SHA, "ref": "refs/heads/main"}))
    assert [a["id"] for a in on_main] == [203, 204, 205]
    assert [c["path"] for c in infra.calls[-3:]] == [
        "/gh/repos/o/r/code-scanning/analyses?ref=refs%2Fheads%2Fmain&per_page=100",
        "/gh/repos/o/r/code-scanning/analyses?ref=refs%2Fheads%2Fmain&per_page=3&page=2",
        "/gh/repos/o/r/code-scanning/analyses?ref=refs%2Fheads%2Fmain&per_page=3&page=3"]
    other = json.loads(m.query("codeql", "analyses", {"repo": "o/r", "sha": OTHER_SHA}))
    assert [a["id"] for a in other] == [201, 202]


def test_codeql_errors(infra_mount, infra):
    m = infra_mount(gh_token=TOKEN_A)
    # No analysis of that commit: ENOENT, and nothing cached.
    request = {"repo": "o/r", "sha": "f" * 40}
    assert m.query_errno("codeql", "analyses", request) == "ENOENT"
    assert not os.path.exists(entry(m, "codeql", "analyses", request))
    assert m.query_errno("codeql", "analyses", {"repo": "other/repo", "sha": SHA}) == "ENOENT"
    assert last_error(m)["status"] == 404
    assert m.query_errno("codeql", "analyses", {"repo": "err/403", "sha": SHA}) == "EACCES"
    assert m.query_errno("codeql", "analyses", {"repo": "o/r"}) == "EINVAL"
    assert m.query_errno("codeql", "analyses", {"repo": "o/r", "sha": "abc"}) == "EINVAL"
    infra.rate_limited = True
    assert m.query_errno("codeql", "analyses", {"repo": "o/r", "sha": SHA}) == "EBUSY"


def test_codeql_rate_limit_serves_the_stale_entry(infra_mount, infra):
    m = infra_mount(gh_token=TOKEN_A)
    request = {"repo": "o/r", "sha": SHA}
    body = m.query("codeql", "analyses", {**request, "cidcache": {"ttl": 1}})
    time.sleep(2)
    infra.rate_limited = True
    assert m.query("codeql", "analyses", request) == body
    assert m.json_lines("log")[-1]["outcome"] == "stale"
    assert m.stats("codeql.json")["stale_served"] == 1


# IPFS (Kubo RPC)

def test_ipfs_operations(infra_mount, infra):
    m = infra_mount()
    cases = [
        ("stat", {"cid": CID}, f"/api/v0/files/stat?arg=%2Fipfs%2F{CID}", 3600),
        ("stat", {"cid": CID, "block": True}, f"/api/v0/block/stat?arg={CID}", 3600),
        ("dht.findprovs", {"cid": CID, "num-providers": 2}, f"/api/v0/routing/findprovs?arg={CID}&num-providers=2", 600),
        ("pin.ls", {}, "/api/v0/pin/ls", 300),
        ("pin.ls", {"type": "recursive"}, "/api/v0/pin/ls?type=recursive", 300),
    ]
    for op, request, path, seconds in cases:
        body = m.query("ipfs", op, request)
        call = infra.calls[-1]
        assert call["method"] == "POST" and call["path"] == path, op
        assert "Authorization" not in call["headers"]
        assert ttl(m, "ipfs", op, request) == seconds, op
        assert m.query("ipfs", op, request) == body
        assert m.read("api", "ipfs", op, request_cid("ipfs", op, request)) == body
    stat = json.loads(m.query("ipfs", "stat", {"cid": CID}))
    assert stat["Hash"] == CID and stat["CumulativeSize"] == 11
    # The NDJSON stream stored as Kubo sent it.
    lines = m.query("ipfs", "dht.findprovs", {"cid": CID, "num-providers": 2}).decode().splitlines()
    assert [json.loads(line)["Type"] for line in lines] == [0, 4, 4]
    assert json.loads(m.query("ipfs", "pin.ls", {}))["Keys"][CID]["Type"] == "recursive"
    assert len(infra.calls_to("/api/v0/")) == len(cases)
    assert outcomes(m).count("miss") == len(cases)


def test_ipfs_errors_map_to_errno(infra_mount, infra):
    m = infra_mount()
    cases = [("pin.ls", {"cid": "missing1"}, "ENOENT", 500), ("stat", {"cid": "missing2"}, "ENOENT", 500),
             ("stat", {"cid": "bad-cid"}, "EINVAL", 500), ("dht.findprovs", {"cid": "crash"}, "EIO", 500)]
    for op, request, name, status in cases:
        assert m.query_errno("ipfs", op, request) == name, request
        error = last_error(m)
        assert error["errno"] == name and error["status"] == status
        assert not os.path.exists(entry(m, "ipfs", op, request))
    assert "is not pinned" in m.json_lines("errors")[0]["message"]
    calls = len(infra.calls)
    for op, request in [("stat", {}), ("stat", {"cid": "a", "path": "/b"}), ("dht.findprovs", {}), ("pin.ls", {"cid": 5})]:
        assert m.query_errno("ipfs", op, request) == "EINVAL"
    assert len(infra.calls) == calls


def test_infra_namespaces_in_the_tree(infra_mount):
    m = infra_mount()
    for ns, ops in [("hf", ["model_info", "list_repo_files", "dataset_info", "space_info", "list_models",
                            "list_datasets", "model_tags", "repo_commits"]),
                    ("github", ["list_repos", "workflow_runs", "runners"]), ("codeql", ["analyses"]),
                    ("ipfs", ["stat", "dht.findprovs", "pin.ls"])]:
        assert set(ops) <= set(os.listdir(m.p("api", ns))), ns
    readme = m.read("README").decode()
    for ns in ("hf", "github", "codeql", "ipfs"):
        assert ns in readme
