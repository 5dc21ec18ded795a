"""The docker family through a real mount: the Engine API over a unix socket
(a fake speaking its wire format) and registry.tags with the token handshake."""
import json
import os

import pytest

from fake_docker import FakeDockerEngine, FakeRegistry


@pytest.fixture
def engine():
    server = FakeDockerEngine()
    yield server
    server.stop()


@pytest.fixture
def registry():
    server = FakeRegistry()
    yield server
    server.stop()


@pytest.fixture
def docker_mount(make_mount, engine, registry):
    def make(**env):
        m = make_mount()
        m.env.update({"DOCKER_HOST": engine.url, "CIDCACHE_DOCKER_REGISTRY": registry.url})
        for name in ("DOCKER_API_VERSION", "CIDCACHE_DOCKER_KEY", "CIDCACHE_DOCKER_URL"):
            m.env.pop(name, None)
        m.env.update(env)
        return m.start()
    return make


def outcomes(m):
    return [line["outcome"] for line in m.json_lines("log")]


def test_operations_are_listed(docker_mount):
    m = docker_mount()
    assert sorted(os.listdir(m.p("api", "docker"))) == sorted([
        "images.inspect", "images.history", "images.search", "containers.inspect", "containers.list",
        "volumes.inspect", "networks.inspect", "registry.tags"])


def test_engine_api_over_the_unix_socket(docker_mount, engine):
    m = docker_mount()
    answer = json.loads(m.query("docker", "images.inspect", {"name": "ghcr.io/owner/tool:1.0"}))
    assert answer["Id"] == "sha256:bbb"
    assert json.loads(m.query("docker", "images.inspect", {"name": "ghcr.io/owner/tool:1.0"}))["Id"] == "sha256:bbb"
    assert outcomes(m) == ["miss", "hit"]
    call = engine.calls[0]
    assert call["path"] == "/v1.43/images/ghcr.io/owner/tool:1.0/json" and call["host"]
    assert len(engine.calls) == 1

    assert json.loads(m.query("docker", "images.history", {"name": "alpine:3.19"}))[0]["Size"] == 7
    assert json.loads(m.query("docker", "images.search", {"term": "redis cache", "limit": 3}))[0]["description"] == "limit=3"
    assert engine.calls[-1]["query"] == {"term": ["redis cache"], "limit": ["3"]}
    listed = json.loads(m.query("docker", "containers.list", {"all": True, "filters": {"status": ["running"]}}))
    assert listed[0]["query"] == {"all": "true", "filters": '{"status":["running"]}'}
    assert json.loads(m.query("docker", "containers.inspect", {"id": "c1", "size": True}))["SizeRw"] == 12
    assert json.loads(m.query("docker", "volumes.inspect", {"name": "data"}))["Driver"] == "local"
    assert json.loads(m.query("docker", "networks.inspect", {"id": "bridge", "verbose": True}))["verbose"] == "true"


def test_engine_ttls(docker_mount):
    m = docker_mount()
    for op, request, ttl in [("images.inspect", {"name": "alpine:3.19"}, b"1800"),
                             ("images.history", {"name": "alpine:3.19"}, b"3600"),
                             ("images.search", {"term": "x"}, b"600"),
                             ("containers.inspect", {"id": "c1"}, b"30"),
                             ("containers.list", {}, b"30"),
                             ("volumes.inspect", {"name": "data"}, b"300"),
                             ("networks.inspect", {"id": "host"}, b"300")]:
        m.query("docker", op, request)
        entries = [n for n in os.listdir(m.p("api", "docker", op)) if n != "query"]
        assert len(entries) == 1, op
        assert os.getxattr(m.p("api", "docker", op, entries[0]), "user.cidcache.ttl") == ttl, op


def test_engine_errors(docker_mount):
    m = docker_mount()
    assert m.query_errno("docker", "images.inspect", {"name": "missing:latest"}) == "ENOENT"
    line = m.json_lines("errors")[-1]
    assert line["status"] == 404 and "No such image: missing:latest" in line["message"]
    assert m.query_errno("docker", "containers.inspect", {"id": "nope"}) == "ENOENT"
    assert m.query_errno("docker", "volumes.inspect", {"name": "other"}) == "ENOENT"
    assert m.query_errno("docker", "networks.inspect", {"id": "forbidden"}) == "EACCES"
    assert m.query_errno("docker", "networks.inspect", {"id": "broken"}) == "EIO"
    assert m.query_errno("docker", "images.inspect", {}) == "EINVAL"
    assert m.query_errno("docker", "images.inspect", {"name": "../../etc"}) == "EINVAL"
    assert m.stats("docker.json")["entries"] == 0


def test_api_version_is_part_of_identity(docker_mount, engine):
    m = docker_mount()
    m.query("docker", "volumes.inspect", {"name": "data"})
    m.stop()
    # Another API version: the old entry is not this identity's, and the fake
    # (which speaks only v1.43) refuses the new prefix.
    m.env["DOCKER_API_VERSION"] = "1.44"
    m.start()
    assert m.query_errno("docker", "volumes.inspect", {"name": "data"}) == "EINVAL"
    assert engine.calls[-1]["path"] == "/v1.44/volumes/data"
    assert [n for n in os.listdir(m.p("api", "docker", "volumes.inspect")) if n != "query"] == []
    m.stop()
    del m.env["DOCKER_API_VERSION"]
    m.start()
    m.query("docker", "volumes.inspect", {"name": "data"})
    assert outcomes(m) == ["hit"]


def test_unreachable_socket_is_eio(docker_mount, tmp_path):
    m = docker_mount(DOCKER_HOST="unix://" + str(tmp_path / "absent.sock"))
    assert m.query_errno("docker", "images.inspect", {"name": "alpine:3.19"}) == "EIO"


def test_registry_tags_with_token_handshake(docker_mount, registry):
    m = docker_mount()
    answer = json.loads(m.query("docker", "registry.tags", {"repository": "library/ubuntu"}))
    # Every page joined (the fake pages by two).
    assert answer == {"name": "library/ubuntu", "tags": ["20.04", "22.04", "24.04", "latest", "noble"]}
    paths = [(c["path"], c["auth"] is not None) for c in registry.calls]
    assert paths[:3] == [("/v2/library/ubuntu/tags/list", False), ("/token", False), ("/v2/library/ubuntu/tags/list", True)]
    assert registry.calls[1]["query"] == {"service": "fake-registry", "scope": "repository:library/ubuntu:pull"}
    assert sum(1 for c in registry.calls if c["path"].endswith("/tags/list")) == 4  # the 401, then 3 pages
    calls = len(registry.calls)
    assert json.loads(m.query("docker", "registry.tags", {"repository": "library/ubuntu"}))["tags"][-1] == "noble"
    assert len(registry.calls) == calls
    assert outcomes(m) == ["miss", "hit"]
    entries = [n for n in os.listdir(m.p("api", "docker", "registry.tags")) if n != "query"]
    assert os.getxattr(m.p("api", "docker", "registry.tags", entries[0]), "user.cidcache.ttl") == b"1800"
    # The token never reaches a stored byte.
    for root, _, files in os.walk(m.data):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                assert b"token-1" not in f.read()


def test_registry_one_page_and_named_registry(docker_mount, registry):
    m = docker_mount(CIDCACHE_DOCKER_REGISTRY="registry.invalid")
    answer = json.loads(m.query("docker", "registry.tags", {"repository": "library/ubuntu", "registry": registry.url, "n": 3}))
    assert answer == {"name": "library/ubuntu", "tags": ["20.04", "22.04", "24.04"]}
    answer = json.loads(m.query("docker", "registry.tags", {"repository": "library/ubuntu", "registry": registry.url,
                                                            "n": 3, "last": "24.04"}))
    assert answer["tags"] == ["latest", "noble"]


def test_registry_errors(docker_mount, registry):
    m = docker_mount()
    assert m.query_errno("docker", "registry.tags", {"repository": "team/none"}) == "ENOENT"
    assert "NAME_UNKNOWN" in m.json_lines("errors")[-1]["message"]
    # A private repository without credentials: the realm refuses.
    assert m.query_errno("docker", "registry.tags", {"repository": "private/secret"}) == "EACCES"
    assert m.query_errno("docker", "registry.tags", {"repository": "x", "registry": "not a host"}) == "EINVAL"


def test_registry_credentials_and_scope(docker_mount, registry):
    m = docker_mount(CIDCACHE_DOCKER_KEY=f"{registry.user}:{registry.password}")
    assert json.loads(m.query("docker", "registry.tags", {"repository": "private/secret"}))["tags"] == ["s1"]
    token_call = [c for c in registry.calls if c["path"] == "/token"][-1]
    assert token_call["auth"].startswith("Basic ")
    # Another credential is another scope: a new entry, not the first one's.
    m.stop()
    m.env["CIDCACHE_DOCKER_KEY"] = "someone:else"
    m.start()
    assert [n for n in os.listdir(m.p("api", "docker", "registry.tags")) if n != "query"] == []
    assert m.query_errno("docker", "registry.tags", {"repository": "private/secret"}) == "EACCES"
    m.stop()
    m.env["CIDCACHE_DOCKER_KEY"] = f"{registry.user}:{registry.password}"
    m.start()
    m.query("docker", "registry.tags", {"repository": "private/secret"})
    assert outcomes(m) == ["hit"]
    for root, _, files in os.walk(m.data):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                assert registry.password.encode() not in f.read()
