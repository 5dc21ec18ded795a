"""Caller keys (`cidcache key new NAME`, `http.keys_file`, `http.require_key`):
an SDK that must send some API key sends a caller key, and the front calls
the upstream with the namespace's configured key, counting the caller's hits,
misses and tokens saved under its name; any other credential is the caller's
own, as before. The keys file holds digests only. Every key here is a made-up
test value.
"""
import json
import os
import stat
import subprocess
import tempfile
import time

import anthropic
import httpx
import openai
import pytest

from conftest import BINARY, TEST_KEY, chat
from fake_llm import KEYS
from http_front import llm, serve  # noqa: F401  (fixtures)
from http_front import MESSAGE, headers_of

OWN_KEY = "sk-test-not-a-real-key-callers-own"


@pytest.fixture
def keys():
    """cidcache key CMD ... against a keys file in a fresh folder: .run(*args), .path, .config."""
    class Keys:
        root = tempfile.mkdtemp(prefix="cidcache-keys-")
        path = os.path.join(root, "callers.json")
        config = os.path.join(root, "keys-config.json")

        def run(self, *arguments, check=True):
            result = subprocess.run([BINARY, "key", *arguments, "--config", self.config],
                                    capture_output=True, text=True, timeout=30)
            if check:
                assert result.returncode == 0, result.stderr
            return result

        def new(self, name):
            return self.run("new", name).stdout.strip()

    made = Keys()
    with open(made.config, "w") as f:
        json.dump({"http": {"keys_file": made.path}}, f)
    return made


def all_stats(server):
    """The daemon's stats/all.json, through `cidcache stats` on its data dir (flushed once a second)."""
    result = subprocess.run([BINARY, "stats", "--data-dir", server.data, "--json"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def wait_for(condition, seconds=5):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_a_new_key_is_printed_once_and_only_its_digest_is_kept(keys):
    key = keys.new("alice")
    assert key.startswith("cidcache-key-") and len(key) > 40
    assert stat.S_IMODE(os.stat(keys.path).st_mode) == 0o600
    with open(keys.path) as f:
        text = f.read()
    assert key not in text and key[len("cidcache-key-"):] not in text
    assert [entry["name"] for entry in json.loads(text)["keys"]] == ["alice"]
    assert keys.new("bob") != key
    assert keys.run("list").stdout.split("\n")[0].startswith("alice\t")
    taken = keys.run("new", "alice", check=False)
    assert taken.returncode == 1 and "exists already" in taken.stderr
    bad = keys.run("new", "no spaces please", check=False)
    assert bad.returncode == 1 and "name" in bad.stderr
    assert keys.run("remove", "bob").returncode == 0
    assert keys.run("remove", "bob", check=False).returncode == 1
    assert [line.split("\t")[0] for line in keys.run("list").stdout.splitlines()] == ["alice"]


def test_an_sdk_with_a_caller_key_is_served_with_the_configured_key(serve, fake, llm, keys):
    key = keys.new("alice")
    server = serve("--http", "127.0.0.1:{port}", http={"keys_file": keys.path})
    client = openai.OpenAI(base_url=f"{server.url}/openai", api_key=key, max_retries=0)
    request = chat("asked with a caller key")
    first = client.chat.completions.with_raw_response.create(**request)
    second = client.chat.completions.with_raw_response.create(**request)
    assert (first.headers["x-cidcache"], second.headers["x-cidcache"]) == ("miss", "hit")
    calls = fake.calls_to("/chat/completions")
    assert len(calls) == 1 and headers_of(calls[0])["authorization"] == f"Bearer {TEST_KEY}"
    # Pass-through too: the caller key never leaves the front.
    models = httpx.get(f"{server.url}/openai/models", headers={"Authorization": f"Bearer {key}"})
    assert models.status_code == 200
    assert headers_of(fake.calls_to("/models")[-1])["authorization"] == f"Bearer {TEST_KEY}"
    # A write by pass-through spends the configured key too, so the door's GET/HEAD rule holds.
    write = httpx.post(f"{server.url}/openai/files", headers={"Authorization": f"Bearer {key}"}, json={})
    assert write.status_code == 403 and fake.calls_to("/files") == []
    # anthropic sends x-api-key.
    answer = anthropic.Anthropic(base_url=f"{server.url}/anthropic", api_key=key, max_retries=0).messages.create(**MESSAGE)
    assert answer.content
    assert headers_of(llm.calls_of("anthropic")[-1])["x-api-key"] == KEYS["anthropic"]
    assert wait_for(lambda: all_stats(server).get("callers", {}).get("alice", {}).get("hits") == 1)
    alice = all_stats(server)["callers"]["alice"]
    assert alice["misses"] == 2 and alice["tokens_saved"] > 0
    with open(os.path.join(server.data, "errors.jsonl")) as f:
        assert key not in f.read()


def test_any_other_credential_is_the_callers_own(serve, fake, keys):
    keys.new("alice")
    server = serve("--http", "127.0.0.1:{port}", http={"keys_file": keys.path})
    fake.key = OWN_KEY
    client = openai.OpenAI(base_url=f"{server.url}/openai", api_key=OWN_KEY, max_retries=0)
    assert client.chat.completions.with_raw_response.create(**chat("my own key")).headers["x-cidcache"] == "miss"
    assert headers_of(fake.calls_to("/chat/completions")[-1])["authorization"] == f"Bearer {OWN_KEY}"
    assert "callers" not in all_stats(server)


def test_require_key_refuses_requests_without_a_known_key(serve, fake, keys):
    key = keys.new("alice")
    server = serve("--http", "127.0.0.1:{port}", http={"keys_file": keys.path, "require_key": True})
    for credential in (None, OWN_KEY, "cidcache-key-NOTAKEYNOTAKEYNOTAKEYNOTAKEY"):
        headers = {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {credential}"} if credential else {})
        refused = httpx.post(f"{server.url}/openai/chat/completions", headers=headers, content=json.dumps(chat("refused")))
        assert refused.status_code == 401
        assert "http.require_key" in refused.json()["error"]["message"]
        assert httpx.get(f"{server.url}/openai/models", headers=headers).status_code == 401
    assert fake.calls == []
    with open(os.path.join(server.data, "errors.jsonl")) as f:
        lines = [json.loads(line) for line in f]
    assert len(lines) == 6 and all("http.require_key" in line["message"] for line in lines)
    assert not any(OWN_KEY in json.dumps(line) for line in lines)
    client = openai.OpenAI(base_url=f"{server.url}/openai", api_key=key, max_retries=0)
    assert client.chat.completions.create(**chat("allowed")).choices


def test_keys_made_or_removed_while_serving_take_effect(serve, fake, keys):
    alice = keys.new("alice")
    server = serve("--http", "127.0.0.1:{port}", http={"keys_file": keys.path, "require_key": True})

    def status(key):
        return httpx.post(f"{server.url}/openai/chat/completions", headers={"Authorization": f"Bearer {key}"},
                          json=chat("reloaded")).status_code

    assert status(alice) == 200
    bob = keys.new("bob")
    assert wait_for(lambda: status(bob) == 200)
    keys.run("remove", "alice")
    assert wait_for(lambda: status(alice) == 401)
    assert status(bob) == 200


def test_a_broken_keys_file_stops_the_daemon_with_its_name(serve, keys):
    with open(keys.path, "w") as f:
        f.write('{"keys": [{"name": "alice"}]}')
    server = serve("--http", "127.0.0.1:{port}", http={"keys_file": keys.path}, wait=False)
    assert server.process.wait(timeout=20) == 1
    assert keys.path in server.output() and "sha256" in server.output()
