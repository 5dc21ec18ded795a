"""Eviction under churn: a disk budget smaller than one answer, many distinct
requests whose answers are byte-identical (one stored copy shared by every
entry, evicted and stored again all the time), and readers of the listed
entries. No ask and no read may ever answer EIO or wrong bytes: an entry is
either answered whole or gone (ENOENT)."""
import errno
import os
import threading
import time

import pytest

SECONDS = 6


@pytest.mark.deadline(60)
@pytest.mark.parametrize("size", [600, 40000], ids=["in-index", "in-file"])
def test_churn_never_answers_eio_or_wrong_bytes(make_mount, tmp_path, size):
    answer = bytes((i * 7) % 251 for i in range(size))
    source = tmp_path / "answer.bin"
    source.write_bytes(answer)
    m = make_mount(disk_budget_bytes=size // 2, limits={"exec": {"concurrent": 32, "per_minute": None}},
                   exec={"const": {"argv": ["/bin/cat", str(source)], "ttl": 600}}).start()
    folder = m.p("api", "exec", "const")
    stop = time.monotonic() + SECONDS
    counts = {"asks": 0, "reads": 0, "gone": 0}
    failures = []
    lock = threading.Lock()

    def ask(worker):
        i = 0
        while time.monotonic() < stop:
            try:
                got = m.query("exec", "const", {"stdin": f"{worker}-{i}"})
                if got != answer:
                    failures.append(("ask", "wrong bytes", len(got)))
            except OSError as error:
                failures.append(("ask", errno.errorcode[error.errno]))
            i += 1
            with lock:
                counts["asks"] += 1

    def read():
        while time.monotonic() < stop:
            for name in [n for n in os.listdir(folder) if n != "query"]:
                try:
                    with open(os.path.join(folder, name), "rb") as f:
                        got = f.read()
                    if got != answer:
                        failures.append(("read", "wrong bytes", len(got)))
                    with lock:
                        counts["reads"] += 1
                except OSError as error:
                    if error.errno != errno.ENOENT:
                        failures.append(("read", errno.errorcode[error.errno]))
                    with lock:
                        counts["gone"] += 1

    threads = [threading.Thread(target=ask, args=(w,)) for w in range(8)] + [threading.Thread(target=read) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == [], f"{len(failures)} failures in {counts}: {failures[:10]}"
    assert [line for line in m.json_lines("errors") if "missing" in line["message"]] == []
    stats = m.stats("exec.json")
    assert stats["evictions"] > 0 and counts["asks"] > 100 and counts["reads"] > 0, (stats, counts)
    m.stop()
    report = m.cli("verify").stdout.decode()
    assert "bad blobs dropped: 0" in report and "entries dropped:   0" in report, report
