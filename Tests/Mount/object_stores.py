"""S3-compatible object stores for the shared-tier tests, started and
stopped here by PID, on 127.0.0.1 only, on free ports:

- `Moto()`: moto's server (PyPI `moto[server]`), authentication off: any
  key pair is accepted. In memory; fast to start.
- `SeaweedCluster()` (seaweed_cluster.py): a real multi-node SeaweedFS.

Each store owns a temporary folder (data and one log file per process),
removed at `stop()`; `logs()` gives the tail of every log for failure
messages (set CIDCACHE_KEEP_STORE_LOGS=1 to keep the folder). `stop()` ends
every process even if it was stopped with SIGSTOP (SIGCONT, SIGTERM, then
SIGKILL); the processes also get SIGKILL if the test process dies
(PR_SET_PDEATHSIG: start them from the main thread, as that signal comes
when the starting thread ends), and `kill_leftovers()` ends whatever is
still running (call it when the session finishes).
"""
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

REGION = "us-east-1"
START_S = 30
# Obviously fake credentials: nothing real is ever stored in the tests.
WRITER = ("cidcache-test-writer", "not-a-real-secret-writer-0001")
READER = ("cidcache-test-reader", "not-a-real-secret-reader-0001")
MOTO_KEY = ("cidcache-test-moto", "not-a-real-secret-moto-0001")

_LIVE = set()  # Popen objects started here and not yet reaped
_LIVE_LOCK = threading.Lock()


def free_ports(count):
    """`count` distinct free TCP ports on 127.0.0.1 (held together while picked, so all differ)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _die_with_parent():
    """In the child before exec: SIGKILL it when the test process goes away."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _spawn(argv, log_path, cwd, env=None):
    log = open(log_path, "ab")
    try:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=cwd,
                                   env=env, start_new_session=True, preexec_fn=_die_with_parent)
    finally:
        log.close()
    with _LIVE_LOCK:
        _LIVE.add(process)
    return process


def _end(processes, grace=5.0):
    """Ends every process: SIGCONT (a stopped one cannot act on SIGTERM), SIGTERM, then SIGKILL after grace s."""
    processes = [p for p in processes if p is not None]
    for process in processes:
        if process.poll() is None:
            for sig in (signal.SIGCONT, signal.SIGTERM):
                try:
                    process.send_signal(sig)
                except ProcessLookupError:
                    pass
    deadline = time.monotonic() + grace
    for process in processes:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
    _reap(processes)


def forget_process(process):
    with _LIVE_LOCK:
        _LIVE.discard(process)


def kill_leftovers():
    """SIGKILL every process started here that is still running (a session-finish hook)."""
    with _LIVE_LOCK:
        leftovers = list(_LIVE)
    for process in leftovers:
        if process.poll() is None:
            try:
                process.send_signal(signal.SIGCONT)
                process.kill()
            except ProcessLookupError:
                pass
    _reap(leftovers)


def _reap(processes):
    """Waits (10 s at most each) for processes already told to end, forgetting those gone."""
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        with _LIVE_LOCK:
            if process.poll() is not None:
                _LIVE.discard(process)


def _tail(path, limit=3000):
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - limit))
            return f.read().decode(errors="replace")
    except OSError as error:
        return f"(no log: {error})"


class StoreNotReady(RuntimeError):
    pass


class ObjectStore:
    """What both stores share: a temp dir, logs, and boto3 helpers (path-style, short timeouts, no retries)."""

    name = "store"
    credentials = MOTO_KEY
    # SeaweedFS's filer waits on its gRPC subscribers after SIGTERM: SIGKILL soon after.
    stop_grace = 2.0

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix=f"cidcache-{self.name}-")
        self.processes = {}  # name -> Popen
        self.logs_at = {}  # name -> log path
        self._clients = {}
        self.buckets = []  # made by create_bucket, dropped by drop_buckets

    # Processes

    def spawn(self, name, argv, env=None):
        path = os.path.join(self.root, f"{name}.log")
        self.logs_at[name] = path
        self.processes[name] = _spawn(argv, path, self.root, env)
        return self.processes[name]

    def logs(self):
        """The tail of every process's log, with its state, for a failure message."""
        parts = []
        for name, path in self.logs_at.items():
            process = self.processes.get(name)
            state = "not running" if process is None else (
                "running" if process.poll() is None else f"exited {process.returncode}")
            parts.append(f"--- {name} ({state}) {path}\n{_tail(path)}")
        return "\n".join(parts)

    def check_alive(self, what):
        """StoreNotReady, with the logs, when a process has exited while `what` was awaited."""
        dead = [name for name, p in self.processes.items() if p.poll() is not None]
        if dead:
            raise StoreNotReady(f"{self.name}: {', '.join(dead)} exited while waiting for {what}\n{self.logs()}")

    def pids(self):
        return {name: p.pid for name, p in self.processes.items() if p.poll() is None}

    def stop(self):
        """Ends every process and removes the temp dir (kept with CIDCACHE_KEEP_STORE_LOGS=1)."""
        _end(list(self.processes.values()), self.stop_grace)
        self._clients.clear()
        if not os.environ.get("CIDCACHE_KEEP_STORE_LOGS"):
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    # S3

    def endpoint(self, gateway=0):
        raise NotImplementedError

    @property
    def url(self):
        return self.endpoint(0)

    def section(self, bucket, gateway=0):
        """Where a `shared` config section points to reach the bucket."""
        return {"url": self.endpoint(gateway), "bucket": bucket}

    def client(self, credentials=None, gateway=0, timeout=5):
        key, secret = credentials or self.credentials
        cache = (key, secret, gateway, timeout)
        if cache not in self._clients:
            config = Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1, "mode": "standard"},
                            connect_timeout=timeout, read_timeout=timeout,
                            request_checksum_calculation="when_required",
                            response_checksum_validation="when_required")
            self._clients[cache] = boto3.client("s3", endpoint_url=self.endpoint(gateway), region_name=REGION,
                                                aws_access_key_id=key, aws_secret_access_key=secret, config=config)
        return self._clients[cache]

    def create_bucket(self, bucket=None, **kwargs):
        """Creates a bucket (a fresh name when none is given) and returns its name."""
        bucket = bucket or f"cidcache-{uuid.uuid4().hex[:12]}"
        self.client(**kwargs).create_bucket(Bucket=bucket)
        self.buckets.append(bucket)
        return bucket

    def drop_buckets(self):
        """Deletes every bucket create_bucket made, with its objects (SeaweedFS frees the bucket's
        volumes: each bucket is a collection that grows its own). Errors are ignored: best effort."""
        while self.buckets:
            bucket = self.buckets.pop()
            try:
                self.delete_bucket(bucket)
            except (BotoCoreError, ClientError, OSError):
                pass

    def delete_bucket(self, bucket, **kwargs):
        """Deletes a bucket and every object in it."""
        for key in self.keys(bucket, **kwargs):
            self.delete(bucket, key, **kwargs)
        self.client(**kwargs).delete_bucket(Bucket=bucket)

    def keys(self, bucket, prefix="", **kwargs):
        """Every object key under prefix, sorted."""
        found = []
        for page in self.client(**kwargs).get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            found.extend(item["Key"] for item in page.get("Contents", []))
        return sorted(found)

    def get(self, bucket, key, **kwargs):
        return self.client(**kwargs).get_object(Bucket=bucket, Key=key)["Body"].read()

    def put(self, bucket, key, data, **kwargs):
        self.client(**kwargs).put_object(Bucket=bucket, Key=key, Body=data)

    def delete(self, bucket, key, **kwargs):
        self.client(**kwargs).delete_object(Bucket=bucket, Key=key)

    def objects(self, bucket, prefix="", **kwargs):
        """{key: bytes} of every object under prefix."""
        return {key: self.get(bucket, key, **kwargs) for key in self.keys(bucket, prefix, **kwargs)}

    def wait_serving(self, gateway=0, seconds=START_S):
        """Waits until the gateway answers S3 calls: a probe bucket is created
        (with retries), written, read and emptied; else StoreNotReady with the logs."""
        deadline = time.monotonic() + seconds
        probe = f"cidcache-probe-{uuid.uuid4().hex[:8]}"
        last = None
        while time.monotonic() < deadline:
            self.check_alive(f"gateway {gateway} to serve")
            try:
                client = self.client(gateway=gateway, timeout=2)
                try:
                    client.create_bucket(Bucket=probe)
                except ClientError as error:
                    if error.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise
                client.put_object(Bucket=probe, Key="probe", Body=b"probe")
                assert client.get_object(Bucket=probe, Key="probe")["Body"].read() == b"probe"
                client.delete_object(Bucket=probe, Key="probe")
                client.delete_bucket(Bucket=probe)
                return
            except (BotoCoreError, ClientError, AssertionError, OSError) as error:
                last = error
                time.sleep(0.2)
        raise StoreNotReady(f"{self.name} gateway {gateway} did not serve S3 in {seconds} s "
                            f"(last error: {last!r})\n{self.logs()}")


class Moto(ObjectStore):
    """moto's S3 server, authentication off (every key pair is accepted)."""

    name = "moto"

    def __init__(self):
        super().__init__()
        self.port = free_ports(1)[0]
        try:
            env = {k: v for k, v in os.environ.items()
                   if not k.startswith("AWS_") and k != "INITIAL_NO_AUTH_ACTION_COUNT"}
            env["MOTO_PORT"] = str(self.port)
            self.spawn("moto", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)], env)
            self.wait_serving()
        except BaseException:
            self.stop()
            raise

    def endpoint(self, gateway=0):
        return f"http://127.0.0.1:{self.port}"
