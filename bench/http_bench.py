"""The HTTP front's figures (issue 13), all in one loop on loopback:

- a cached chat completion through `cidcache serve --http` (POST
  /openai/chat/completions, keep-alive http.client), the entry a hit;
- the same request to LiteLLM's proxy (PyPI `litellm[proxy]`, started here)
  with its in-memory cache on, its model pointed at the same loopback fake,
  answered from its cache (the fake's call count shows it);
- the same bytes from a minimal hummingbird route that returns them from
  memory (`cidcache-http-floor`, bench/HTTPFloor), the floor of any
  hummingbird server on this machine.

Targets: the front at least 10x faster than LiteLLM at p50, and within 2x of
the floor.
"""
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import time

MODEL = "gpt-4o-mini"
# LiteLLM's proxy refuses to start without a master key; an obviously fake one.
MASTER_KEY = "sk-bench-not-a-real-master-key-0001"


def wait_http(port, path, seconds, process, method="GET", body=None):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request(method, path, body=body, headers={"Content-Type": "application/json"})
            connection.getresponse().read()
            connection.close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing answered on port {port} within {seconds} s")


def stop(process):
    if process and process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Client:
    """One keep-alive connection posting the same JSON body."""

    def __init__(self, port, path, body, headers=None):
        self.connection = http.client.HTTPConnection("127.0.0.1", port)
        self.path, self.body = path, body
        self.headers = {"Content-Type": "application/json", **(headers or {})}

    def __call__(self):
        self.connection.request("POST", self.path, body=self.body, headers=self.headers)
        response = self.connection.getresponse()
        data = response.read()
        assert response.status == 200, (response.status, data[:200])
        return response, data


def start_front(binary, name, fake, key, request, free_port, root, processes):
    """`binary serve --http` on a store of its own, its answer to `request` cached: (client, payload)."""
    data = os.path.join(root, name)
    os.makedirs(data, exist_ok=True)
    port = free_port()
    env = dict(os.environ, CIDCACHE_OPENAI_URL=fake.url, CIDCACHE_OPENAI_KEY=key)
    front = subprocess.Popen([binary, "serve", "--http", f"127.0.0.1:{port}", "--data-dir", data],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    processes.append(front)
    wait_http(port, "/", 30, front)
    client = Client(port, "/openai/chat/completions", request, {"Authorization": f"Bearer {key}"})
    _, payload = client()
    response, again = client()
    assert again == payload and response.getheader("x-cidcache") == "hit", response.getheader("x-cidcache")
    return client, payload


def measure_http_front(results, binary, floor_binary, fake, key, chat, free_port, percentiles, log, root, n,
                       baseline_binary=None):
    """Adds three latency rows (four with `baseline_binary`: its front's hit, in the same rounds) and results["http_front"]."""
    litellm = os.path.join(os.path.dirname(sys.executable), "litellm")
    processes = []
    try:
        request = json.dumps(chat("What is a content identifier? Answer in one paragraph.")).encode()
        ours, payload = start_front(binary, "http-front", fake, key, request, free_port, root, processes)
        fronts = [("front", ours)]
        if baseline_binary:
            old, old_payload = start_front(baseline_binary, "http-front-baseline", fake, key, request, free_port, root,
                                           processes)
            assert old_payload == payload
            fronts.append(("baseline", old))

        payload_file = os.path.join(root, "http-floor.json")
        with open(payload_file, "wb") as f:
            f.write(payload)
        floor_port = free_port()
        floor = subprocess.Popen([floor_binary, str(floor_port), payload_file], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        processes.append(floor)
        wait_http(floor_port, "/", 30, floor, method="POST", body=request)
        bare = Client(floor_port, "/v1/chat/completions", request)

        log("http front: starting LiteLLM's proxy")
        config = os.path.join(root, "litellm.yaml")
        with open(config, "w") as f:
            json.dump({"model_list": [{"model_name": MODEL, "litellm_params": {
                          "model": f"openai/{MODEL}", "api_base": fake.url, "api_key": key}}],
                       "litellm_settings": {"cache": True, "cache_params": {"type": "local"}},
                       "general_settings": {"master_key": MASTER_KEY}}, f)
        litellm_port = free_port()
        proxy = subprocess.Popen([litellm, "--config", config, "--host", "127.0.0.1", "--port", str(litellm_port)],
                                 env=dict(os.environ, LITELLM_LOG="ERROR"), stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        processes.append(proxy)
        wait_http(litellm_port, "/health/liveliness", 120, proxy)
        theirs = Client(litellm_port, "/v1/chat/completions", request, {"Authorization": f"Bearer {MASTER_KEY}"})
        theirs()
        calls = len(fake.calls)
        theirs()
        assert len(fake.calls) == calls, "LiteLLM's second answer did not come from its cache"

        log(f"http front: {n} rounds")
        samples = {name: [] for name, _ in fronts + [("floor", bare), ("litellm", theirs)]}
        calls_in_a_round = fronts + [("floor", bare), ("litellm", theirs)]
        # Each round in another order, so no row keeps coming right after LiteLLM's (whose
        # work after its answer still runs on these cores): in a fixed order the row after
        # it was ~20 % slower, the same binary against itself.
        order = random.Random(18)
        for i in range(n + 20):
            order.shuffle(calls_in_a_round)
            for name, call in calls_in_a_round:
                t = time.perf_counter_ns()
                call()
                if i >= 20:
                    samples[name].append(time.perf_counter_ns() - t)
        assert len(fake.calls) == calls, "an answer in the loop reached the upstream"
        rows = [("cidcache HTTP front hit", "POST /openai/chat/completions, keep-alive", "front"),
                ("hummingbird floor (bytes from memory)", "bench/HTTPFloor, keep-alive", "floor"),
                ("LiteLLM proxy, in-memory cache hit", "litellm[proxy], keep-alive", "litellm")]
        if baseline_binary:
            rows.insert(1, ("baseline HTTP front hit", "the --baseline-bin binary's front, keep-alive", "baseline"))
        for method, what, name in rows:
            results["latency"].append({"method": method, "client": "python", "what": what, "samples": samples[name]})
        p50 = {name: percentiles(values)["p50_us"] for name, values in samples.items()}
        results["http_front"] = {"front_p50_us": p50["front"], "floor_p50_us": p50["floor"],
                                 "litellm_p50_us": p50["litellm"],
                                 "litellm_over_front": round(p50["litellm"] / p50["front"], 1),
                                 "front_over_floor": round(p50["front"] / p50["floor"], 2)}
    finally:
        for process in processes:
            stop(process)
