"""The HTTP front's door (issue 18): what a web page the user opens can send
to a loopback server is refused before any engine or upstream call. Hosts
other than loopback ones (DNS rebinding), origins other than loopback ones,
cross-site requests, bodies that are not JSON on JSON operations, and
pass-through of other methods than GET and HEAD with the configured key are
refused in the family's error format, each with an `errors` line and counted
in `http_refused`; `http.allowed_hosts`, `http.allowed_origins` and a
namespace's `pass_through` open them. Every key here is a made-up test value.
"""
import json
import os
import time

import httpx
import openai
import pytest

from conftest import TEST_KEY, chat
from http_front import front, llm, serve  # noqa: F401  (fixtures)
from http_front import headers_of, openai_client

EVIL = "https://evil.example"
PAGE = "http://localhost:3000"


def wait_for_stat(m, name, value, namespace="openai.json"):
    """Waits until a figure (flushed every second) reaches `value`; the figure last seen."""
    deadline = time.time() + 5
    while True:
        seen = m.stats(namespace).get(name)
        if seen == value or time.time() > deadline:
            return seen
        time.sleep(0.1)


def refused_lines(data):
    with open(os.path.join(data, "errors.jsonl")) as f:
        return [json.loads(line) for line in f if "refused" in line or "pass-through is off" in line]


def test_a_cross_site_post_is_refused_before_any_upstream_call(front, fake):
    body = json.dumps(chat("from a web page")).encode()
    url = f"{front.url}/openai/chat/completions"
    # What a <form> or a fetch without preflight sends from another site.
    cross = httpx.post(url, content=body, headers={"Origin": EVIL, "Content-Type": "text/plain"})
    assert cross.status_code == 403
    assert cross.headers["x-cidcache"] == "error"
    assert "access-control-allow-origin" not in cross.headers
    error = cross.json()["error"]
    assert EVIL in error["message"] and "http.allowed_origins" in error["message"]
    # The same body as text/plain from a loopback page or a script: JSON operations take JSON.
    for headers in ({"Origin": PAGE, "Content-Type": "text/plain"}, {"Content-Type": "text/plain;charset=UTF-8"}):
        plain = httpx.post(url, content=body, headers=headers)
        assert plain.status_code == 415 and plain.headers["x-cidcache"] == "error"
        assert "JSON" in plain.json()["error"]["message"]
    assert not fake.calls_to("/chat/completions")
    lines = refused_lines(front.data)
    assert len(lines) == 3 and {line["namespace"] for line in lines} == {"openai"}
    assert wait_for_stat(front, "http_refused", 3) == 3
    assert front.stats()["http_refused"] == 3
    assert 'cidcache_http_refused_total{namespace="openai"} 3' in front.read("stats", "metrics.prom").decode()


def test_a_rebound_host_is_refused_for_operations_and_pass_through(front, fake):
    port = front.url.rsplit(":", 1)[1]
    rebound = {"Host": f"rebind.evil.example:{port}"}
    answer = httpx.post(f"{front.url}/openai/chat/completions", json=chat("rebound"), headers=rebound)
    assert answer.status_code == 403
    message = answer.json()["error"]["message"]
    assert f"rebind.evil.example:{port}" in message and "http.allowed_hosts" in message
    listing = httpx.get(f"{front.url}/openai/models", headers=rebound)
    assert listing.status_code == 403 and listing.headers["x-cidcache"] == "error"
    anthropic_answer = httpx.post(f"{front.url}/anthropic/v1/messages", json={}, headers=rebound)
    assert anthropic_answer.json()["error"]["type"] == "permission_error"
    assert not fake.calls_to("/chat/completions") and not fake.calls_to("/models")
    assert len(refused_lines(front.data)) == 3


def test_sec_fetch_site_cross_site_is_refused_without_an_allowed_origin(front, fake):
    cross = httpx.get(f"{front.url}/openai/models", headers={"Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403 and "Sec-Fetch-Site" in cross.json()["error"]["message"]
    evil = httpx.get(f"{front.url}/openai/models", headers={"Sec-Fetch-Site": "cross-site", "Origin": EVIL})
    assert evil.status_code == 403
    assert not fake.calls_to("/models")
    # A page on localhost:3000 calling 127.0.0.1 is cross-site too, and allowed.
    page = httpx.get(f"{front.url}/openai/models", headers={"Sec-Fetch-Site": "cross-site", "Origin": PAGE})
    assert page.status_code == 200 and page.headers["access-control-allow-origin"] == PAGE


def test_preflights_are_answered_for_loopback_origins_only(front, fake):
    asked = {"Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "authorization, content-type, x-stainless-os"}
    allowed = httpx.options(f"{front.url}/openai/chat/completions", headers={"Origin": PAGE, **asked})
    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-origin"] == PAGE
    assert allowed.headers["vary"] == "Origin"
    assert "POST" in allowed.headers["access-control-allow-methods"]
    assert allowed.headers["access-control-allow-headers"] == "authorization, content-type, x-stainless-os"
    evil = httpx.options(f"{front.url}/openai/chat/completions", headers={"Origin": EVIL, **asked})
    assert evil.status_code == 403 and "access-control-allow-origin" not in evil.headers
    assert not fake.calls


def test_a_page_on_localhost_3000_calls_the_front(front, fake):
    client = openai.OpenAI(base_url=f"{front.url}/openai", api_key=TEST_KEY, max_retries=0,
                           default_headers={"Origin": PAGE, "Sec-Fetch-Site": "cross-site"})
    raw = client.chat.completions.with_raw_response.create(**chat("from localhost:3000"))
    assert raw.headers["x-cidcache"] == "miss"
    assert raw.headers["access-control-allow-origin"] == PAGE
    assert "x-cidcache" in raw.headers["access-control-expose-headers"]
    again = client.chat.completions.with_raw_response.create(**chat("from localhost:3000"))
    assert again.headers["x-cidcache"] == "hit"
    assert len(fake.calls_to("/chat/completions")) == 1
    # Any port and scheme of a loopback origin.
    other = httpx.get(f"{front.url}/openai/models", headers={"Origin": "https://127.0.0.1:5173"})
    assert other.headers["access-control-allow-origin"] == "https://127.0.0.1:5173"


def test_allowed_hosts_and_origins_let_them_in(serve, fake):
    server = serve("--http", "127.0.0.1:{port}",
                   http={"allowed_hosts": ["Cache.Team.Example"], "allowed_origins": ["https://notebook.example:8443"]})
    named = {"Host": f"cache.team.example:{server.port}"}
    assert httpx.post(f"{server.url}/openai/chat/completions", json=chat("named"), headers=named).status_code == 200
    page = httpx.get(f"{server.url}/openai/models", headers={"Origin": "https://notebook.example:8443"})
    assert page.status_code == 200 and page.headers["access-control-allow-origin"] == "https://notebook.example:8443"
    # Only those: another name, another port of the origin.
    assert httpx.get(f"{server.url}/openai/models", headers={"Host": "rebind.evil.example"}).status_code == 403
    assert httpx.get(f"{server.url}/openai/models", headers={"Origin": "https://notebook.example"}).status_code == 403
    assert len(fake.calls_to("/chat/completions")) == 1 and len(fake.calls_to("/models")) == 1


@pytest.mark.parametrize("config, said", [
    ({"http": {"allowed_hosts": "localhost"}}, "http.allowed_hosts must be a list of host names"),
    ({"http": {"allowed_origins": ["localhost:3000"]}}, "http.allowed_origins[0] must be a list of origins"),
    ({"namespaces": {"openai": {"family": "openai", "pass_through": "some"}}}, "namespaces.openai.pass_through must be"),
])
def test_bad_door_settings_are_refused_naming_the_member(serve, config, said):
    server = serve("--http", "127.0.0.1:{port}", wait=False, **config)
    assert server.process.wait(timeout=20) == 1
    assert said in server.output() and "EINVAL" in server.output()


def test_pass_through_posts_need_the_callers_own_credential(front, fake):
    url = f"{front.url}/openai/files"
    spent = httpx.post(url, json={"purpose": "batch"})
    assert spent.status_code == 403 and spent.headers["x-cidcache"] == "error"
    assert "namespaces.openai.pass_through" in spent.json()["error"]["message"]
    assert not fake.calls_to("/files")
    own = "sk-test-not-a-real-key-callers-own-0051"
    passed = httpx.post(url, json={"purpose": "batch"}, headers={"Authorization": f"Bearer {own}"})
    assert passed.status_code != 403 and passed.headers["x-cidcache"] == "bypass"
    assert headers_of(fake.calls_to("/files")[0])["authorization"] == f"Bearer {own}"
    # Reads keep the configured key.
    assert httpx.get(f"{front.url}/openai/models").status_code == 200
    assert headers_of(fake.calls_to("/models")[0])["authorization"] == f"Bearer {TEST_KEY}"
    assert wait_for_stat(front, "http_refused", 1) == 1


def test_a_namespaces_pass_through_setting(serve, fake):
    """pass_through "all": every method with the configured key; "none": no pass-through, operations still served."""
    for policy in ("all", "none"):
        server = serve("--http", "127.0.0.1:{port}", namespaces={"openai": {"family": "openai", "pass_through": policy}})
        posted = httpx.post(f"{server.url}/openai/files", json={"purpose": "batch"})
        listing = httpx.get(f"{server.url}/openai/models")
        answer = openai_client(server).chat.completions.with_raw_response.create(**chat(f"pass-through {policy}"))
        assert answer.headers["x-cidcache"] == "miss"
        if policy == "all":
            assert posted.status_code != 403 and listing.status_code == 200
            assert headers_of(fake.calls_to("/files")[0])["authorization"] == f"Bearer {TEST_KEY}"
        else:
            assert posted.status_code == 403 and listing.status_code == 403
            assert "pass_through is \"none\"" in listing.json()["error"]["message"]
            assert len(fake.calls_to("/files")) == 1 and len(fake.calls_to("/models")) == 1
            assert len(refused_lines(server.data)) == 2
