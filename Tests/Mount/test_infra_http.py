"""The hf and github namespaces through a real mount against a
loopback fake of each API (fake_infra_http.py): misses, hits, entries, TTLs,
the errno of each error status, GitHub's stale-on-rate-limit, and entries
scoped by credential; codeql and ipfs are test_infra_codeql_ipfs.py's."""
import json
import os
import threading
import time

from cidlib import request_cid
from fake_infra_http import HF_TOKEN_A, HF_TOKEN_B, TOKEN_A, TOKEN_B, tree_entries
from infra_support import assert_no_token_stored, entry, infra_mount, last_error, outcomes, ttl  # noqa: F401  (fixture)


# The Hugging Face Hub

def test_hf_model_info_miss_hit_and_entry(infra_mount, infra):
    m = infra_mount(hf_token=HF_TOKEN_A)
    request = {"repo_id": "google-bert/bert-base-uncased", "revision": "main"}
    first = m.query("hf", "model_info", request)
    info = json.loads(first)
    assert info["id"] == "google-bert/bert-base-uncased" and info["viewer"] == "alice"
    assert m.query("hf", "model_info", request) == first
    calls = infra.calls_to("/api/models/")
    assert len(calls) == 1
    assert calls[0]["method"] == "GET"
    assert calls[0]["path"] == "/api/models/google-bert/bert-base-uncased/revision/main"
    assert calls[0]["headers"]["Authorization"] == "Bearer " + HF_TOKEN_A
    assert outcomes(m) == ["miss", "hit"]
    assert m.read("api", "hf", "model_info", request_cid("hf", "model_info", request)) == first
    assert ttl(m, "hf", "model_info", request) == 3600
    stats = m.stats("hf.json")
    assert stats["misses"] == 1 and stats["hits"] == 2  # the query's hit and the entry's open


def test_hf_operations_paths_and_ttls(infra_mount, infra):
    m = infra_mount()
    cases = [
        ("model_info", {"repo_id": "gpt2"}, "/api/models/gpt2", 3600),
        ("dataset_info", {"repo_id": "nyu-mll/glue", "revision": "refs/convert/parquet"},
         "/api/datasets/nyu-mll/glue/revision/refs%2Fconvert%2Fparquet", 3600),
        ("space_info", {"repo_id": "gradio/hello world"}, "/api/spaces/gradio/hello%20world", 1800),
        ("list_models", {"search": "bert base", "author": "google", "filter": ["fill-mask", "pytorch"], "limit": 2},
         "/api/models?search=bert%20base&author=google&filter=fill-mask&filter=pytorch&limit=2", 600),
        ("list_datasets", {"search": "glue", "limit": 1}, "/api/datasets?search=glue&limit=1", 600),
        ("model_tags", {}, "/api/models-tags-by-type", 1800),
        ("repo_commits", {"repo_id": "org/model", "revision": "v1.0"}, "/api/models/org/model/commits/v1.0", 300),
    ]
    for op, request, path, seconds in cases:
        body = m.query("hf", op, request)
        assert json.loads(body) is not None
        assert infra.calls[-1]["path"] == path, op
        assert "Authorization" not in infra.calls[-1]["headers"]
        assert ttl(m, "hf", op, request) == seconds, op
    assert [line["outcome"] for line in m.json_lines("log")] == ["miss"] * len(cases)


def test_hf_list_repo_files_joins_every_page(infra_mount, infra):
    m = infra_mount()
    request = {"repo_id": "org/model"}
    files = json.loads(m.query("hf", "list_repo_files", request))
    assert files == tree_entries("org/model")
    calls = infra.calls_to("/api/models/org/model/tree/main")
    # Five entries, two a page: three calls, every one to the fake (the links name huggingface.co).
    assert [c["path"] for c in calls] == ["/api/models/org/model/tree/main?recursive=true",
                                          "/api/models/org/model/tree/main?recursive=true&cursor=2",
                                          "/api/models/org/model/tree/main?recursive=true&cursor=4"]
    assert ttl(m, "hf", "list_repo_files", request) == 1800
    # One page as the Hub sent it, bytes included.
    infra.tree_page = 10
    single = m.query("hf", "list_repo_files", {"repo_id": "org/model", "revision": "v1.0"})
    assert single == json.dumps(tree_entries("org/model")).encode()


def test_hf_errors_map_to_errno(infra_mount, infra):
    m = infra_mount()
    for repo, name, status in [("err/401", "EACCES", 401), ("err/403", "EACCES", 403), ("err/404", "ENOENT", 404),
                               ("err/429", "EBUSY", 429), ("org/private", "EACCES", 401)]:
        request = {"repo_id": repo}
        assert m.query_errno("hf", "model_info", request) == name, repo
        error = last_error(m)
        assert error["errno"] == name and error["status"] == status
        assert error["request_cid"] == request_cid("hf", "model_info", request)
        assert not os.path.exists(entry(m, "hf", "model_info", request))
    assert m.query_errno("hf", "repo_commits", {"repo_id": "org/model", "revision": "nope"}) == "ENOENT"
    calls = len(infra.calls)
    for bad in [{}, {"repo_id": ""}, {"repo_id": "a/b/c"}, {"repo_id": "a", "repo_type": "ship"}]:
        assert m.query_errno("hf", "model_info" if "repo_type" not in bad else "list_repo_files", bad) == "EINVAL"
    assert len(infra.calls) == calls
    assert m.stats("hf.json")["upstream_errors"] == 6


def test_hf_private_repo_is_scoped_by_token(infra_mount, infra):
    m = infra_mount(hf_token=HF_TOKEN_A)
    request = {"repo_id": "org/private"}
    body = m.query("hf", "model_info", request)
    assert json.loads(body)["private"] is True
    m.stop()
    m.env["HF_TOKEN"] = HF_TOKEN_B
    m.start()
    # bob's identity sees no entry, and the Hub refuses him.
    assert not os.path.exists(entry(m, "hf", "model_info", request))
    assert m.query_errno("hf", "model_info", request) == "EACCES"
    assert [c["headers"]["Authorization"] for c in infra.calls_to("/api/models/org/private")] == \
        ["Bearer " + HF_TOKEN_A, "Bearer " + HF_TOKEN_B]
    m.stop()
    m.env["HF_TOKEN"] = HF_TOKEN_A
    m.start()
    assert m.query("hf", "model_info", request) == body
    assert len(infra.calls_to("/api/models/org/private")) == 2
    assert_no_token_stored(m, HF_TOKEN_A, HF_TOKEN_B)


# GitHub

def test_github_operations_headers_and_ttls(infra_mount, infra):
    m = infra_mount(gh_token=TOKEN_A)
    cases = [
        ("list_repos", {}, "/gh/user/repos", 300),
        ("list_repos", {"org": "octo-org", "per_page": 50}, "/gh/orgs/octo-org/repos?per_page=50", 300),
        ("list_repos", {"user": "octocat"}, "/gh/users/octocat/repos", 300),
        ("workflow_runs", {"owner": "o", "repo": "r", "branch": "main", "status": "completed", "per_page": 5},
         "/gh/repos/o/r/actions/runs?branch=main&status=completed&per_page=5", 60),
        ("workflow_runs", {"repo": "o/r", "workflow_id": "ci.yml"}, "/gh/repos/o/r/actions/workflows/ci.yml/runs", 60),
        ("runners", {"owner": "o", "repo": "r"}, "/gh/repos/o/r/actions/runners", 30),
        ("runners", {"org": "octo-org"}, "/gh/orgs/octo-org/actions/runners", 30),
    ]
    for op, request, path, seconds in cases:
        body = m.query("github", op, request)
        call = infra.calls[-1]
        assert call["path"] == path and call["method"] == "GET", op
        assert call["headers"]["Authorization"] == "Bearer " + TOKEN_A
        assert call["headers"]["Accept"] == "application/vnd.github+json"
        assert call["headers"]["X-GitHub-Api-Version"] == "2022-11-28"
        assert ttl(m, "github", op, request) == seconds, op
        assert m.query("github", op, request) == body
    runs = json.loads(m.read("api", "github", "workflow_runs", request_cid("github", "workflow_runs", cases[3][1])))
    assert [r["status"] for r in runs["workflow_runs"]] == ["completed"]
    assert len(infra.calls_to("/gh/")) == len(cases)
    stats = m.stats("github.json")
    assert stats["misses"] == len(cases) and stats["hits"] == len(cases) + 1  # and one entry read


def test_github_errors_map_to_errno(infra_mount, infra):
    m = infra_mount(gh_token=TOKEN_A)
    for repo, name, status in [("401", "EACCES", 401), ("403", "EACCES", 403), ("404", "ENOENT", 404), ("429", "EBUSY", 429)]:
        request = {"owner": "err", "repo": repo}
        assert m.query_errno("github", "workflow_runs", request) == name, repo
        error = last_error(m)
        assert error["errno"] == name and error["status"] == status
        assert not os.path.exists(entry(m, "github", "workflow_runs", request))
    # Rate limited (403 with x-ratelimit-remaining: 0) and nothing to stand in: EBUSY, not EACCES.
    infra.rate_limited = True
    assert m.query_errno("github", "runners", {"org": "octo-org"}) == "EBUSY"
    assert last_error(m)["status"] == 403 and "rate limit" in last_error(m)["message"]
    infra.rate_limited = False
    # No token for /user/repos: GitHub's 401.
    anonymous = infra_mount()
    assert anonymous.query_errno("github", "list_repos", {}) == "EACCES"
    assert "Authorization" not in infra.calls[-1]["headers"]
    assert m.query_errno("github", "list_repos", {"org": "a", "user": "b"}) == "EINVAL"


def test_github_rate_limit_serves_the_stale_entry(infra_mount, infra):
    m = infra_mount(gh_token=TOKEN_A, stale_window_s=3600)
    request = {"repo": "o/r", "branch": "main"}
    body = m.query("github", "workflow_runs", {**request, "cidcache": {"ttl": 1}})
    time.sleep(2)
    assert not os.path.exists(entry(m, "github", "workflow_runs", request))
    infra.rate_limited = True
    assert m.query("github", "workflow_runs", request) == body
    assert m.json_lines("log")[-1]["outcome"] == "stale"
    assert m.stats("github.json")["stale_served"] == 1
    assert len(infra.calls_to("/gh/repos/o/r/actions/runs")) == 2
    infra.rate_limited = False
    assert m.query("github", "workflow_runs", request) == body
    assert m.json_lines("log")[-1]["outcome"] == "miss"


def test_two_tokens_get_separate_entries(infra_mount, infra):
    m = infra_mount(gh_token=TOKEN_A)
    request = {"per_page": 100}
    alice = m.query("github", "list_repos", request)
    assert json.loads(alice)[0]["full_name"] == "alice/secret-alice"
    cid = request_cid("github", "list_repos", request)
    assert cid in os.listdir(m.p("api", "github", "list_repos"))
    m.stop()
    m.env["GITHUB_TOKEN"] = TOKEN_B
    m.start()
    # Same question, another credential: alice's entry is not there for bob.
    assert cid not in os.listdir(m.p("api", "github", "list_repos"))
    assert not os.path.exists(entry(m, "github", "list_repos", request))
    bob = m.query("github", "list_repos", request)
    assert json.loads(bob)[0]["full_name"] == "bob/secret-bob"
    assert m.query("github", "list_repos", request) == bob
    assert m.read("api", "github", "list_repos", cid) == bob
    calls = infra.calls_to("/gh/user/repos")
    assert [c["headers"]["Authorization"] for c in calls] == ["Bearer " + TOKEN_A, "Bearer " + TOKEN_B]
    m.stop()
    # GH_TOKEN (gh's first choice) names alice again: her entry is back, with no call.
    m.env.pop("GITHUB_TOKEN")
    m.env["GH_TOKEN"] = TOKEN_A
    m.start()
    assert m.query("github", "list_repos", request) == alice
    assert len(infra.calls_to("/gh/user/repos")) == 2
    # No token in any file of the data dir, nor in the daemon's output.
    assert_no_token_stored(m, TOKEN_A, TOKEN_B)
    assert TOKEN_A not in m.daemon_output() and TOKEN_B not in m.daemon_output()


# Self-fetching families call their upstream within the same retries and limits as the others.

def test_hf_retries_ride_out_server_faults(infra_mount, infra):
    m = infra_mount(upstream_retries=2, retry_backoff_ms=20)
    info = json.loads(m.query("hf", "model_info", {"repo_id": "flaky/2"}))
    assert info["id"] == "flaky/2"
    assert len(infra.calls_to("/api/models/flaky/2")) == 3
    assert m.stats("hf.json")["upstream_errors"] == 0


def test_hf_retries_are_bounded(infra_mount, infra):
    m = infra_mount(upstream_retries=1, retry_backoff_ms=20)
    assert m.query_errno("hf", "model_info", {"repo_id": "flaky/5"}) == "EBUSY"
    assert len(infra.calls_to("/api/models/flaky/5")) == 2
    assert last_error(m)["errno"] == "EBUSY"


def test_hf_burst_of_misses_is_queued_within_the_limit(infra_mount, infra):
    m = infra_mount(limits={"hf": {"concurrent": 2}})
    answers = []

    def ask(i):
        answers.append(json.loads(m.query("hf", "model_info", {"repo_id": f"slow/model-{i}"})))

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(a["id"] for a in answers) == [f"slow/model-{i}" for i in range(6)]
    assert infra.peak == 2
