"""How the benchmark times things: interleaved Python and C loops, CPU pinning,
and the FUSE round trips one operation costs (counted with strace)."""
import array
import gc
import os
import shutil
import signal
import subprocess
import time

from harness import CLIENT, OPCODES, OUT


# ---------------------------------------------------------------- timing

def time_loop(n, body, warm=None):
    """Per-call latencies (ns) of body(), after a warm-up, with the GC off."""
    for _ in range(warm if warm is not None else n // 20 + 1):
        body()
    samples = array.array("Q", bytes(8 * n))
    clock = time.perf_counter_ns
    gc.disable()
    try:
        for i in range(n):
            t = clock()
            body()
            samples[i] = clock() - t
    finally:
        gc.enable()
    return list(samples)


def time_interleaved(n, bodies, rounds=10):
    """time_loop for several bodies taken in turns, n/rounds calls each a turn,
    so a change in the machine's load weighs on every row alike."""
    for _, body in bodies:
        time_loop(n // 20 + 1, body, warm=0)
    samples = {name: [] for name, _ in bodies}
    for _ in range(rounds):
        for name, body in bodies:
            samples[name] += time_loop(n // rounds, body, warm=0)
    return samples


PIN_CPU = 0


class pinned:
    """Runs the bench and the given server processes (all their threads) on one
    CPU while latencies are taken. On two vCPUs, whether a client and the
    server thread that answers it share a CPU swings one call between ~20 and
    ~45 us (a wake-up across CPUs): pinned, every method pays the same
    hand-off and the runs agree to a few percent."""

    def __init__(self, *pids):
        self.pids = [pid for pid in pids if pid]

    def __enter__(self):
        self.before = os.sched_getaffinity(0)
        for pid in self.pids:
            subprocess.run(["taskset", "-a", "-p", "-c", str(PIN_CPU), str(pid)], check=True, stdout=subprocess.DEVNULL)
        os.sched_setaffinity(0, {PIN_CPU})
        return self

    def __exit__(self, *exc):
        every = ",".join(str(cpu) for cpu in range(os.cpu_count()))
        for pid in self.pids:
            subprocess.run(["taskset", "-a", "-p", "-c", every, str(pid)], stdout=subprocess.DEVNULL)
        os.sched_setaffinity(0, self.before)


def py_read(path):
    def body():
        fd = os.open(path, os.O_RDONLY)
        while os.read(fd, 65536):
            pass
        os.close(fd)
    return body


def py_builtin_read(path):
    def body():
        with open(path, "rb") as f:
            f.read()
    return body


def py_query(path, request):
    def body():
        fd = os.open(path, os.O_RDWR)
        os.write(fd, request)
        while os.read(fd, 65536):
            pass
        os.close(fd)
    return body


def py_query_one_read(path, request):
    """A transaction whose reader takes the answer in one read (a buffer larger
    than the answer) and closes without reading EOF: OPEN, WRITE, READ."""
    def body():
        fd = os.open(path, os.O_RDWR)
        os.write(fd, request)
        assert os.read(fd, 65536)
        os.close(fd)
    return body


def c_samples(*args):
    out = os.path.join(OUT, "samples.bin")
    subprocess.run([CLIENT, *args[:1], out, *args[1:]], check=True)
    data = array.array("I")
    with open(out, "rb") as f:
        data.frombytes(f.read())
    os.unlink(out)
    return list(data)


def c_interleaved(n, runs, rounds=10):
    """c_samples for several client runs taken in turns (see time_interleaved)."""
    samples = {name: [] for name, _ in runs}
    for _ in range(rounds):
        for name, args in runs:
            samples[name] += c_samples(args[0], str(n // rounds), *args[1:])
    return samples


def c_throughput(path, threads, seconds):
    result = subprocess.run([CLIENT, "tput", str(seconds), str(threads), path], check=True,
                            capture_output=True, text=True)
    rate, failures = result.stdout.split()
    if int(failures):
        raise RuntimeError(f"{failures} failed reads of {path}")
    return float(rate)


# ---------------------------------------------------------------- round trips

def fuse_fd(pid):
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == "/dev/fuse":
                return int(fd)
        except OSError:
            pass
    return None


def count_round_trips(pid, action, repeats):
    """FUSE requests the daemon reads from /dev/fuse per action (strace on the daemon)."""
    if not shutil.which("strace"):
        return None
    fd = fuse_fd(pid)
    trace = os.path.join(OUT, "strace.txt")
    action()
    action()
    tracer = subprocess.Popen(["strace", "-f", "-xx", "-s", "8", "-e", "trace=read", "-o", trace, "-p", str(pid)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # strace says "Process N attached" on stderr once per thread: wait for the first.
    tracer.stderr.readline()
    time.sleep(0.5)
    for _ in range(repeats):
        action()
    time.sleep(0.5)
    tracer.send_signal(signal.SIGINT)
    tracer.wait(timeout=10)
    counts = {}
    pending = {}  # thread id -> fd of its unfinished read
    with open(trace) as f:
        for line in f:
            # "123 read(7, "\x30\x00..."..., 1052672) = 48", or split in two:
            # "123 read(7,  <unfinished ...>" then "123 <... read resumed>"\x30..."..., 1052672) = 48"
            parts = line.split(None, 1)
            if len(parts) < 2:
                continue
            tid, rest = parts
            if rest.startswith("read(") and "<unfinished" in rest:
                pending[tid] = int(rest[5:].split(",", 1)[0])
                continue
            if rest.startswith("read("):
                read_fd = int(rest[5:].split(",", 1)[0])
            elif rest.startswith("<... read resumed>"):
                read_fd = pending.pop(tid, None)
            else:
                continue
            if read_fd != fd or '"' not in rest or rest.rstrip().endswith(("= -1", ")")):
                continue
            raw = rest.split('"', 2)[1]
            data = bytes(int(h, 16) for h in raw.split("\\x")[1:])
            if len(data) < 8:
                continue
            opcode = int.from_bytes(data[4:8], "little")
            name = OPCODES.get(opcode, f"op{opcode}")
            counts[name] = counts.get(name, 0) + 1
    os.unlink(trace)
    per = {name: round(count / repeats, 2) for name, count in sorted(counts.items())}
    per["total"] = round(sum(counts.values()) / repeats, 2)
    return per
