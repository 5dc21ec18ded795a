"""Stopping the daemon while readers wait on a slow upstream.

SIGTERM, `cidcache unmount` and a lazy `fusermount3 -u -z` must each end the
daemon with status 0 within a bound, every time: every waiting reader gets
its read back (an error) within that bound, nothing stays mounted, the
daemon tears the session down in order (its log says `unmounted`, which a
daemon cut short by a timer or stuck in libfuse's loop never writes), and
the store is clean afterwards.
"""
import errno
import os
import re
import signal
import subprocess
import threading
import time

import pytest

from conftest import BINARY, is_mounted

READERS = 32
ROUNDS = 5
BOUND_S = 10
# The fake holds every answer far past the bound, and no call times out
# before it: only the stop can end these reads.
SLOW_MODEL = "slow-60"
CLEAN_UNMOUNT = re.compile(r"\] unmounted$", re.MULTILINE)


def slow_mount(make_mount):
    return make_mount(upstream_timeout_s=120, limits={"openai": {"concurrent": 64, "per_minute": None}})


def start_readers(m, fake, round_number):
    """READERS threads, each blocked on the read of its own query; returns once
    the daemon has sent every one of them upstream."""
    outcomes = {}
    before = len(fake.calls_to("/chat/completions"))

    def read(index):
        request = {"model": SLOW_MODEL, "messages": [{"role": "user", "content": f"round {round_number} reader {index}"}]}
        try:
            outcomes[index] = m.query("openai", "chat.completions", request)
        except OSError as error:
            outcomes[index] = error
        outcomes[index, "at"] = time.monotonic()

    threads = [threading.Thread(target=read, args=(i,), daemon=True) for i in range(READERS)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + BOUND_S
    while len(fake.calls_to("/chat/completions")) < before + READERS:
        assert time.monotonic() < deadline, "the readers' requests did not all reach the upstream"
        time.sleep(0.02)
    time.sleep(0.1)  # every read is parked in the daemon by now
    return threads, outcomes


def stop(m, how):
    if how == "sigterm":
        m.process.send_signal(signal.SIGTERM)
    elif how == "cidcache-unmount":
        result = subprocess.run([BINARY, "unmount", m.path], capture_output=True, timeout=BOUND_S)
        assert result.returncode == 0, result.stderr
    else:
        result = subprocess.run(["fusermount3", "-u", "-z", m.path], capture_output=True, timeout=BOUND_S)
        assert result.returncode == 0, result.stderr


@pytest.mark.deadline(300)
@pytest.mark.parametrize("how", ["sigterm", "cidcache-unmount", "fusermount-lazy"])
def test_stop_with_readers_waiting_on_a_slow_upstream(make_mount, fake, how):
    m = slow_mount(make_mount)
    for round_number in range(ROUNDS):
        m.start()
        threads, outcomes = start_readers(m, fake, round_number)
        stopped = time.monotonic()
        stop(m, how)
        try:
            status = m.process.wait(timeout=BOUND_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"round {round_number}: the daemon did not exit within {BOUND_S} s after {how}")
        assert status == 0, f"round {round_number}: exit status {status}\n{m.daemon_output()[-3000:]}"
        for thread in threads:
            thread.join(timeout=max(0.1, stopped + BOUND_S - time.monotonic()))
        stuck = [i for i, thread in enumerate(threads) if thread.is_alive()]
        assert not stuck, f"round {round_number}: readers {stuck} still blocked {BOUND_S} s after {how}"
        for index in range(READERS):
            outcome = outcomes[index]
            assert isinstance(outcome, (bytes, OSError)), outcome
            assert outcomes[index, "at"] - stopped < BOUND_S
            if isinstance(outcome, OSError):
                assert outcome.errno in (errno.ENOTCONN, errno.ECONNABORTED, errno.EIO, errno.EINTR), outcome
        assert not is_mounted(m.path), f"round {round_number}: still mounted after {how}"
        output = m.daemon_output()
        assert len(CLEAN_UNMOUNT.findall(output)) == round_number + 1, \
            f"round {round_number}: the daemon did not tear its session down in order\n{output[-3000:]}"
        assert "did not end in time" not in output
        m.stop()
    report = m.cli("verify").stdout.decode()
    for line in ("index integrity:   ok", "bad blobs dropped: 0", "entries dropped:   0", "stray files:       0",
                 "temporary files:   0"):
        assert line in report, report


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_file_held_open_does_not_keep_the_daemon(make_mount, sig):
    """The held file keeps the kernel connection after the unmount, so
    libfuse's workers stay parked on /dev/fuse: the daemon must end its loop
    itself and still exit 0 with the session torn down in order."""
    m = make_mount().start()
    held = os.open(m.p("log"), os.O_RDONLY)
    try:
        m.process.send_signal(sig)
        assert m.process.wait(timeout=BOUND_S) == 0
        # The connection went with the daemon: the held file answers ENOTCONN.
        with pytest.raises(OSError) as failure:
            os.read(held, 100)
        assert failure.value.errno == errno.ENOTCONN
    finally:
        os.close(held)
    assert not is_mounted(m.path)
    output = m.daemon_output()
    assert len(CLEAN_UNMOUNT.findall(output)) == 1, output[-3000:]
