"""The cidcache benchmark: run by bench/run, which builds what it needs first.

Everything is measured in one run on this machine: the FUSE floor (libfuse's
hello_ll, patched for keep_cache and long timeouts), cidcache hits from Python
and C, plain files on disk and tmpfs, the caches users would pick instead
(diskcache, GPTCache, requests-cache, Redis), the miss overhead against a
loopback fake of OpenAI, and stores of growing size. Prints a table, writes
bench/out/results.json and bench/out/latency.png.
"""
import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time

from harness import BINARY, HELLO, KEY, OUT, QUERY_FLOOR, REPO, CidMount, FakeOpenAI, FloorMount, chat, log, percentiles, rss_kib
from measure import (fast_fake, measure_alternatives, measure_engine, measure_hits, measure_http, measure_miss, measure_scale,
                     measure_shared_tier)
from timing import pinned





# ---------------------------------------------------------------- output

def summarize(results):
    by = {}
    for row in results["latency"]:
        row.update(percentiles(row["samples"]))
        by[(row["method"], row["client"])] = row
    for row in results["latency"]:
        floor = by.get(("FUSE floor (hello_ll)", row["client"]))
        hit = by.get(("cidcache entry hit", row["client"]))
        row["x_floor"] = round(row["p50_us"] / floor["p50_us"], 2) if floor else None
        row["x_entry_hit"] = round(row["p50_us"] / hit["p50_us"], 2) if hit else None
    return by


def synchronous(counts):
    """Requests a caller waits on: all but RELEASE and FORGET, which the kernel sends without waiting."""
    return round(counts["total"] - sum(counts.get(k, 0) for k in ("RELEASE", "FORGET", "BATCH_FORGET")), 2)


def targets(results, by):
    out = []

    def check(name, met, figure):
        out.append({"target": name, "met": bool(met) if met is not None else None, "figure": figure})

    for client in ("python", "c"):
        hit, floor = by[("cidcache entry hit", client)], by[("FUSE floor (hello_ll)", client)]
        cid = by[("cidcache cid/ file", client)]
        check(f"entry hit within 1.2x FUSE floor ({client})", hit["x_floor"] <= 1.2, f"{hit['x_floor']}x")
        check(f"cid/ file within 1.2x FUSE floor ({client})", cid["x_floor"] <= 1.2, f"{cid['x_floor']}x")
        query, query_floor = by.get(("cidcache query-file hit", client)), by.get(("FUSE query floor (query_ll)", client))
        if query and query_floor:
            ratio = query["p50_us"] / query_floor["p50_us"]
            check(f"query-file hit within 1.5x FUSE query floor ({client})", ratio <= 1.5, f"{ratio:.2f}x")
        query_floor_mt = by.get(("FUSE query floor, MT loop (query_ll --mt)", client))
        if query and query_floor_mt:
            ratio = query["p50_us"] / query_floor_mt["p50_us"]
            check(f"query-file hit within 1.5x the same floor on libfuse's MT loop ({client})", ratio <= 1.5,
                  f"{ratio:.2f}x")
        for name in ("entry hit", "cid/ file", "query-file hit", "HTTP front hit"):
            new, old = by.get((f"cidcache {name}", client)), by.get((f"baseline {name}", client))
            if new and old:
                check(f"{name} no slower than the baseline binary ({client})", new["p50_us"] <= old["p50_us"] * 1.05,
                      f"{new['p50_us'] / old['p50_us']:.2f}x the baseline's p50")
    trips = results.get("round_trips") or {}
    repeat = trips.get("entry hit, os.open/read/close")
    if repeat:
        only_open = repeat.get("OPEN") == 1 and synchronous(repeat) <= 1
        check("repeat hit: one round trip (OPEN), no LOOKUP/GETATTR/FLUSH/IOCTL/READ", only_open,
              ", ".join(f"{k} {v}" for k, v in repeat.items()))
    for name in ("query-file hit", "query-file hit, one read"):
        query = trips.get(name)
        if query:
            check(f"{name} in at most 3 round trips", synchronous(query) <= 3,
                  f"{synchronous(query):g} waited on (" + ", ".join(f"{k} {v}" for k, v in query.items()) + ")")
    hit = by[("cidcache entry hit", "python")]
    for other in ("requests-cache GET (SQLite)", "Redis GET over loopback"):
        row = by.get((other, "python"))
        if row:
            check(f"entry hit faster than {other}", row["p50_us"] > hit["p50_us"], f"{row['x_entry_hit']}x the hit")
    tput = [t for t in results["throughput"] if t["method"] == "cidcache entry hit" and t["threads"] == 8]
    if tput:
        check(">= 50 000 hits/s with 8 C threads", tput[0]["ops_per_s"] >= 50000, f"{tput[0]['ops_per_s']:.0f}/s")
    scale = [s for s in results["scale"] if "skipped" not in s]
    if len(scale) >= 2:
        small, big = scale[0], scale[-1]
        ratio = big["lookup_cold"]["p99_us"] / small["lookup_cold"]["p99_us"]
        check(f"lookup p99 at {big['entries']} within 2x of {small['entries']} (target: 1 000 000 vs 1 000)",
              ratio <= 2, f"{ratio:.2f}x")
    if scale:
        big = scale[-1]
        worst_rss = max(big["rss_mib"], big["rss_after_fill_mib"])
        check(f"RSS under 150 MB (at {big['entries']} entries; target at 1 000 000)", worst_rss < 150 * 1e6 / 2**20,
              f"{big['rss_mib']} MiB restarted on the full store, {big['rss_after_fill_mib']} MiB in the daemon that filled it")
        worst = max(s["mount_start_s"] for s in scale)
        check("mount ready in under 1 s (every store size)", worst < 1, f"{worst:.3f} s at worst")
    for label, miss in results.get("miss", {}).items():
        check(f"miss overhead under 2 ms ({label})", miss["overhead_p50_us"] < 2000, f"{miss['overhead_p50_us']:.0f} us")
    front = results.get("http_front")
    if front:
        check("HTTP front hit at least 10x faster than LiteLLM's proxy cache hit (p50)", front["litellm_over_front"] >= 10,
              f"{front['litellm_over_front']}x ({front['litellm_p50_us']:.0f} vs {front['front_p50_us']:.0f} us)")
        check("HTTP front hit within 2x a minimal hummingbird route (p50)", front["front_over_floor"] <= 2,
              f"{front['front_over_floor']}x ({front['front_p50_us']:.0f} vs {front['floor_p50_us']:.0f} us)")
    shared = results.get("shared")
    if shared:
        check("shared hit within 1.3x two plain GETs of its objects (p50)", shared["ratio"] <= 1.3,
              f"{shared['ratio']}x ({shared['shared_hit_p50_us']:.0f} vs {shared['two_gets_p50_us']:.0f} us); "
              f"{shared['uploads_per_s']} uploads/s with {shared['uploads']} queued")
    return out


def print_table(results):
    lines = []
    add = lines.append
    add(f"{'method':44} {'client':7} {'p50 us':>9} {'p99 us':>9} {'x floor':>8} {'x hit':>7}")
    for row in results["latency"]:
        fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
        add(f"{row['method']:44} {row['client']:7} {row['p50_us']:9.1f} {row['p99_us']:9.1f} "
            f"{fmt(row['x_floor']):>8} {fmt(row['x_entry_hit']):>7}")
    add("")
    add("throughput (C, pthreads, open+read+close), ops/s:")
    methods = []
    for t in results["throughput"]:
        if t["method"] not in methods:
            methods.append(t["method"])
    add(f"  {'method':32} {'1 thread':>10} {'2 threads':>10} {'8 threads':>10}")
    for m in methods:
        figures = {t["threads"]: t["ops_per_s"] for t in results["throughput"] if t["method"] == m}
        add(f"  {m:32} {figures.get(1, 0):10.0f} {figures.get(2, 0):10.0f} {figures.get(8, 0):10.0f}")
    if results.get("miss"):
        add("")
    for label, m in results.get("miss", {}).items():
        add(f"miss overhead, {label}: {m['through_mount_p50_us']:.0f} us through the mount - "
            f"{m['direct_p50_us']:.0f} us direct = {m['overhead_p50_us']:.0f} us (p50)")
    if results.get("engine"):
        add("")
        add("engine in-process (Swift, no FUSE; bench/Engine), microseconds:")
        for row in results["engine"]:
            label = row["name"] + (f" @ {row['entries']} entries" if row.get("entries") else "")
            add(f"  {label:44} p50 {row['p50_us']:8.2f}   p99 {row['p99_us']:8.2f}")
    if results["scale"]:
        add("")
        add("scale (lookup = open+read+close of random distinct entries from C; cold = first open by name):")
        add(f"  {'entries':>9} {'fill/s':>7} {'start s':>8} {'cold p50':>9} {'cold p99':>9} {'warm p50':>9} "
            f"{'warm p99':>9} {'ls -U s':>8} {'ls s':>7} {'RSS MiB':>8} {'fill RSS':>8} {'B/entry':>8}")
        for s in results["scale"]:
            if "skipped" in s:
                add(f"  {s['entries']:>9} skipped: {s['skipped']}")
                continue
            add(f"  {s['entries']:>9} {s['generation_per_s']:>7} {s['mount_start_s']:>8.3f} "
                f"{s['lookup_cold']['p50_us']:>9.1f} {s['lookup_cold']['p99_us']:>9.1f} "
                f"{s['lookup_warm']['p50_us']:>9.1f} {s['lookup_warm']['p99_us']:>9.1f} "
                f"{s['ls_U_s']:>8.3f} {s['ls_s']:>7.3f} {s['rss_mib']:>8.1f} {s['rss_after_fill_mib']:>8.1f} "
                f"{s['bytes_per_entry']:>8}")
    if results.get("round_trips"):
        add("")
        add("FUSE requests per operation (strace of the daemon's /dev/fuse reads, 20 repeats):")
        for name, counts in results["round_trips"].items():
            add(f"  {name:44} " + ("not measured" if counts is None else
                                   ", ".join(f"{k} {v:g}" for k, v in counts.items())))
    add("")
    add("targets:")
    for t in results["targets"]:
        add(f"  [{'met' if t['met'] else 'MISSED'}] {t['target']}: {t['figure']}")
    return "\n".join(lines)


def plot(results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(17, 9))
    colors = plt.get_cmap("tab20").colors
    for ax, client in zip(axes, ("python", "c")):
        rows = [row for row in results["latency"] if row["client"] == client]
        for index, row in enumerate(rows):
            data = sorted(s / 1000.0 for s in row["samples"])
            y = [(i + 1) / len(data) for i in range(len(data))]
            method = row["method"]
            style = "-" if method.startswith("cidcache") else ("--" if "floor" in method or "plain" in method else ":")
            ax.plot(data, y, style, color=colors[(2 * index) % 20 + (index // 10) % 2],
                    label=f"{method} (p50 {row['p50_us']:.1f} us, p99 {row['p99_us']:.0f} us)", linewidth=1.8)
        ax.set_xscale("log")
        ax.set_xlabel("latency per call, microseconds (log scale)")
        ax.set_ylabel("fraction of calls at or below")
        ax.set_title(f"{'Python' if client == 'python' else 'C'} client: latency CDF")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=1, frameon=False)
    fig.suptitle(f"cidcache bench, {results['machine']['when']}, load {results['machine']['load_before']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--report", metavar="RESULTS_JSON", help="print the table and targets of an earlier run again")
    parser.add_argument("--sizes", help="comma-separated store sizes (default 1000,100000,1000000; quick: 200,2000)")
    parser.add_argument("--baseline-bin", metavar="PATH",
                        help="another cidcache binary (e.g. a build of the previous commit) whose hits are timed "
                             "in the same interleaved rounds, as 'baseline ...' rows")
    parser.add_argument("--shared-only", action="store_true",
                        help="measure only the shared tier (bench/shared_tier.py) and print its rows")
    parser.add_argument("--http-only", action="store_true",
                        help="measure only the HTTP front (bench/http_bench.py) and print its rows")
    parser.add_argument("--max-generation-s", type=float, default=2400,
                        help="skip a store size whose fill would take longer (projected from the previous size)")
    args = parser.parse_args()
    if args.report:
        with open(args.report) as f:
            results = json.load(f)
        by = {(row["method"], row["client"]): row for row in results["latency"]}
        results["targets"] = targets(results, by)
        print(print_table(results))
        return
    quick = args.quick
    n = 300 if quick else 20000
    seconds = 0.3 if quick else 2.0
    sizes = [int(s) for s in (args.sizes or ("200,2000" if quick else "1000,100000,1000000")).split(",")]
    samples = 200 if quick else 2000
    os.makedirs(OUT, exist_ok=True)
    results = {"quick": quick, "latency": [], "throughput": [], "scale": [],
               "machine": {"when": time.strftime("%Y-%m-%d %H:%M"), "cpus": os.cpu_count(),
                           "load_before": " ".join(open("/proc/loadavg").read().split()[:3]),
                           "kernel": os.uname().release,
                           "commit": subprocess.run(["git", "-C", REPO, "describe", "--always", "--dirty"],
                                                    capture_output=True, text=True).stdout.strip(),
                           "binary": BINARY}}
    root = tempfile.mkdtemp(prefix="cidcache-bench-", dir="/var/tmp")
    if args.shared_only or args.http_only:
        fast = fast_fake()
        try:
            if args.shared_only:
                measure_shared_tier(results, fast.url, root, quick)
            if args.http_only:
                measure_http(results, fast, root, quick, args.baseline_bin)
        finally:
            fast.stop()
            shutil.rmtree(root, ignore_errors=True)
        summarize(results)
        for row in results["latency"]:
            print(f"{row['method']:44} {row['client']:7} p50 {row['p50_us']:9.1f} us  p99 {row['p99_us']:9.1f} us")
        print(json.dumps({key: results[key] for key in ("shared", "http_front") if key in results}))
        return
    fake, fast = FakeOpenAI(KEY), None
    hello = FloorMount(root, "hello", [HELLO], "hello").start()
    query_floor = FloorMount(root, "query_ll", [QUERY_FLOOR, os.path.join(root, "payload.json")], "query")
    query_floor_mt = FloorMount(root, "query_ll_mt", [QUERY_FLOOR, os.path.join(root, "payload.json"), "--mt"], "query")
    mount = CidMount(os.path.join(root, "hits"), fake.url)
    baseline = args.baseline_bin and CidMount(os.path.join(root, "baseline"), fake.url, binary=args.baseline_bin)
    results["machine"]["baseline_binary"] = args.baseline_bin
    started = time.perf_counter()
    try:
        results["mount_start_empty_s"] = round(mount.start(), 3)
        request = chat("What is a content identifier? Answer in one paragraph.")
        payload = mount.query(request)
        results["payload_bytes"] = len(payload)
        log(f"payload {len(payload)} bytes")
        with open(os.path.join(root, "payload.json"), "wb") as f:
            f.write(payload)
        query_floor.start()
        query_floor_mt.start()
        if baseline:
            baseline.start()
            assert baseline.query(request) == payload
        measure_hits(results, hello, (query_floor, query_floor_mt), mount, baseline, payload, request, n, seconds, root)
        with pinned():
            measure_alternatives(results, payload, n, root)
        misses = 100 if quick else 1000
        measure_miss(results, mount, fake, misses, "fake as shipped", baseline)
        if baseline:
            baseline.stop()
        rss, _ = rss_kib(mount.process.pid)
        results["rss_after_hits_mib"] = round(rss / 1024, 1)
        mount.stop()
        hello.stop()
        query_floor.stop()
        query_floor_mt.stop()
        fast = fast_fake()
        mount = CidMount(os.path.join(root, "misses"), fast.url)
        mount.start()
        if args.baseline_bin:
            baseline = CidMount(os.path.join(root, "baseline-misses"), fast.url, binary=args.baseline_bin)
            baseline.start()
        measure_miss(results, mount, fast, misses, "fake with TCP_NODELAY", baseline)
        mount.stop()
        if baseline:
            baseline.stop()
        measure_shared_tier(results, fast.url, root, quick)
        measure_http(results, fast, root, quick, args.baseline_bin)
        measure_scale(results, fast, sizes, samples, root, args.max_generation_s)
        log("engine in-process")
        measure_engine(results, [size for size in sizes if size <= 100000] or sizes[:1], n)
    finally:
        mount.stop()
        if baseline:
            baseline.stop()
        hello.stop()
        query_floor.stop()
        query_floor_mt.stop()
        fake.stop()
        if fast:
            fast.stop()
        shutil.rmtree(root, ignore_errors=True)
    results["machine"]["load_after"] = " ".join(open("/proc/loadavg").read().split()[:3])
    results["elapsed_s"] = round(time.perf_counter() - started, 1)
    by = summarize(results)
    results["targets"] = targets(results, by)
    table = print_table(results)
    print(table)
    plot(results, os.path.join(OUT, "latency.png"))
    for row in results["latency"]:
        row.pop("samples")
    results["table"] = table
    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    print(f"\nload {results['machine']['load_before']} before, {results['machine']['load_after']} after; "
          f"{results['elapsed_s']} s; wrote {OUT}/results.json and {OUT}/latency.png")


if __name__ == "__main__":
    main()
