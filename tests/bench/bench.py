#!/usr/bin/env python3
"""End-to-end benchmarks of the lottery: the real lottery-server and
lottery-client binaries on 127.0.0.1, against two floors measured in the
same run (socat copying the same files over loopback TCP into one file,
and cat of the files into one file).

Timings on a shared machine are noisy, so runs are interleaved (ours,
socat, cat, ours, ...) and the table gives the minimum and the median
of --runs runs, and ratios of medians.

    tests/bench/bench.py --build build [--runs 5] [--workloads 1,2,3,4,5,6,7]
                         [--storage-sync batch,none]

Upload workloads run once per storage.sync mode given: "batch" (the
default: every acknowledgement waits for fdatasync, shared by group
commit) and "none" (acknowledged once written), so the table shows what
durability costs. Keep --data on a real disk: on tmpfs a sync is free.

PostgreSQL workloads (8, 9, 10) start a throwaway cluster
(tests/integration/pg_cluster.py), run one server with storage.backend =
postgresql, and compare with the floor of loading the same rows into
the same table with psql's \\copy, in the same run.

Capacity workloads (6, 7) start one server for N agencies and drive
them all at once from one process, tests/tools/lottery-load (one
connection per agency, the real session); their table gives the time
to the last winners answer, bets/s, the time from a batch sent to its
ACK (p50, p99, max) and the server's CPU and peak RSS.
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

PORT_RE = re.compile(rb"accept_connections \| result: in_progress \| port: (\d+)")

WORKLOADS = {
    1: dict(name="5 agencies, 80,000 bets", agencies=5, rows=16000, floors=True),
    2: dict(name="1 agency, 2,000,000 bets", agencies=1, rows=2000000, floors=True),
    3: dict(name="5 agencies, 1,000,000 bets each", agencies=5, rows=1000000, floors=True),
    4: dict(name="300 agencies, 2,000 bets each", agencies=300, rows=2000, floors=False),
    5: dict(name="draw over 5,000,000 rows", agencies=1, rows=5000000, floors=False),
    6: dict(name="capacity: 1,000 agencies × 1,000 bets", agencies=1000, rows=1000,
            capacity=True),
    7: dict(name="capacity: 10,000 agencies × 1,000 bets", agencies=10000, rows=1000,
            capacity=True),
    8: dict(name="PostgreSQL, 1 agency, 200,000 bets", agencies=1, rows=200000,
            postgres=True),
    9: dict(name="PostgreSQL, 5 agencies, 40,000 bets each", agencies=5,
            rows=40000, postgres=True),
    10: dict(name="PostgreSQL, 5 agencies, 40,000 bets each, over 2 servers",
             agencies=5, rows=40000, postgres=True, servers=2),
}


TIME = "/usr/bin/time"


def timed(argv, tag, workdir):
    """Runs argv under GNU time, so that CPU time and peak RSS are the
    program's own (a child forked from Python would report Python's
    pages as its peak RSS)."""
    out = os.path.join(workdir, f"time-{tag}.txt")
    return [TIME, "-f", "%U %S %M", "-o", out] + argv, out


def usage_of(proc, out):
    """Waits for proc; returns (status, CPU seconds, peak RSS KiB)."""
    status = proc.wait()
    with open(out) as f:
        fields = f.read().split()[-3:]
    return status, float(fields[0]) + float(fields[1]), int(fields[2])


class Server:
    def __init__(self, build, workdir, agencies, storage, sync, extra=(),
                 name="server"):
        # extra: more flags (the PostgreSQL store's)
        self.log_path = os.path.join(workdir, name + ".log")
        self.log = open(self.log_path, "wb")
        argv, self.usage = timed(
            [os.path.join(build, "src/server/lottery-server"), "--port", "0",
             "--agencies", str(agencies), "--listen-backlog", "1024",
             "--storage", storage, "--storage-sync", sync, *extra],
            name, workdir)
        self.proc = subprocess.Popen(argv, stdout=self.log,
                                     stderr=subprocess.STDOUT, cwd=workdir)
        deadline = time.monotonic() + 10
        self.port = None
        while self.port is None:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("the server did not start: " + open(self.log_path).read())
            m = PORT_RE.search(open(self.log_path, "rb").read())
            if m:
                self.port = int(m.group(1))
            else:
                time.sleep(0.01)

    def stop(self):
        # GNU time does not pass signals on: signal its child.
        with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
            for pid in f.read().split():
                os.kill(int(pid), signal.SIGTERM)
        status, cpu, rss = usage_of(self.proc, self.usage)
        self.log.close()
        if status != 0:
            raise RuntimeError(f"the server exited with {status}")
        return cpu, rss


def run_ours(build, workdir, files, sync, storage=None, fresh=True,
             extra=(), servers=1):
    storage = storage or os.path.join(workdir, "bets.csv")
    if fresh and os.path.exists(storage):
        os.unlink(storage)
    # Without its journal the stored file is adopted as it is, and the
    # one agency finishes again.
    if os.path.exists(storage + ".journal"):
        os.unlink(storage + ".journal")
    # Several servers share a lottery only in a database; each agency
    # lists them all, starting at a different one.
    running = [Server(build, workdir, len(files), storage, sync, extra,
                      name=f"server-{k + 1}" if k else "server")
               for k in range(servers)]
    ports = [f"127.0.0.1:{s.port}" for s in running]
    client = os.path.join(build, "src/client/lottery-client")
    argvs = [timed([client, "--id", str(i + 1), "--server",
                    ",".join(ports[i % servers:] + ports[:i % servers]),
                    "--bets-file", f,
                    "--log-level", "WARNING"], f"client-{i + 1}", workdir)
             for i, f in enumerate(files)]
    start = time.monotonic()
    procs = [(subprocess.Popen(argv, stdout=subprocess.DEVNULL, cwd=workdir), out)
             for argv, out in argvs]
    ccpu, crss = 0.0, 0
    for p, out in procs:
        status, cpu, rss = usage_of(p, out)
        if status != 0:
            raise RuntimeError(f"a client exited with {status}")
        ccpu += cpu
        crss = max(crss, rss)
    wall = time.monotonic() - start
    scpu, srss = 0.0, 0
    for server in running:
        cpu, rss = server.stop()
        scpu += cpu
        srss = max(srss, rss)
    return dict(wall=wall, server_cpu=scpu, server_rss=srss,
                client_cpu=ccpu, client_rss=crss)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_socat(workdir, files, total):
    out = os.path.join(workdir, "socat-out.csv")
    if os.path.exists(out):
        os.unlink(out)
    port = free_port()
    listener = subprocess.Popen(
        ["socat", "-u", f"TCP-LISTEN:{port},reuseaddr,fork,bind=127.0.0.1",
         f"OPEN:{out},creat,append"])
    for _ in range(500):
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            break
        except OSError:
            time.sleep(0.01)
    # The probe above opened the file: start from zero.
    time.sleep(0.05)
    base = os.path.getsize(out) if os.path.exists(out) else 0
    start = time.monotonic()
    senders = [subprocess.Popen(["socat", "-u", f"FILE:{f}", f"TCP:127.0.0.1:{port}"])
               for f in files]
    for s in senders:
        s.wait()
    while os.path.getsize(out) - base < total:
        time.sleep(0.0005)
    wall = time.monotonic() - start
    listener.terminate()
    listener.wait()
    return dict(wall=wall)


def run_cat(workdir, files):
    out = os.path.join(workdir, "cat-out.csv")
    start = time.monotonic()
    with open(out, "wb") as f:
        subprocess.run(["cat"] + files, stdout=f, check=True)
    return dict(wall=time.monotonic() - start)


def generate(gen, path, rows, seed):
    if not os.path.exists(path):
        subprocess.run([gen, "--rows", str(rows), "--seed", str(seed),
                        "--output", path], check=True)


def summary(samples, key):
    values = [s[key] for s in samples]
    return min(values), statistics.median(values)


def fmt_mib(kib):
    return f"{kib / 1024:.1f}"


def bench_upload(args, workdir, wl_id, wl):
    files = []
    for i in range(wl["agencies"]):
        path = os.path.join(args.data, f"w{wl_id}-agency-{i + 1}.csv")
        generate(args.gen, path, wl["rows"], 1000 * wl_id + i)
        files.append(path)
    bets = wl["rows"] * wl["agencies"]
    size = sum(os.path.getsize(f) for f in files)
    ours, socat, cat = {mode: [] for mode in args.sync}, [], []
    for _ in range(args.runs):
        for mode in args.sync:
            ours[mode].append(run_ours(args.build, workdir, files, mode))
        if wl["floors"]:
            if shutil.which("socat"):
                socat.append(run_socat(workdir, files, size))
            cat.append(run_cat(workdir, files))
    return dict(bets=bets, bytes=size, ours=ours, socat=socat, cat=cat)


def bench_draw(args, workdir, wl):
    storage = os.path.join(args.data, "w5-bets.csv")
    if not os.path.exists(storage):
        src = os.path.join(args.data, "w5-agency.csv")
        generate(args.gen, src, wl["rows"], 5000)
        with open(src, "rb") as fin, open(storage, "wb") as fout:
            for line in fin:
                fout.write(b"1," + line.rstrip(b"\r\n") + b"\r\n")
        os.unlink(src)
    empty = os.path.join(workdir, "empty.csv")
    open(empty, "w").close()
    runs = []
    for _ in range(args.runs):
        # The stored file is reused: the one agency only finishes.
        runs.append(run_ours(args.build, workdir, [empty], args.sync[0],
                             storage=storage, fresh=False))
    return dict(bets=wl["rows"], bytes=os.path.getsize(storage),
                ours={args.sync[0]: runs}, socat=[], cat=[])


def run_capacity(build, workdir, agencies, rows, sync):
    storage = os.path.join(workdir, "bets.csv")
    for path in (storage, storage + ".journal"):
        if os.path.exists(path):
            os.unlink(path)
    # Every agency stays connected until the draw: room for all of them.
    server = Server(build, workdir, agencies, storage, sync,
                    extra=["--max-connections", str(agencies + 64),
                           "--listen-backlog", "4096"])
    load = subprocess.run(
        [os.path.join(build, "tests/tools/lottery-load"), "--server",
         f"127.0.0.1:{server.port}", "--agencies", str(agencies),
         "--bets", str(rows), "--json"], stdout=subprocess.PIPE, cwd=workdir)
    scpu, srss = server.stop()
    if load.returncode != 0:
        raise RuntimeError(f"lottery-load exited with {load.returncode}")
    sample = json.loads(load.stdout)
    sample.update(server_cpu=scpu, server_rss=srss)
    return sample


def bench_capacity(args, workdir, wl):
    samples = {mode: [] for mode in args.sync}
    for _ in range(args.runs):
        for mode in args.sync:
            samples[mode].append(run_capacity(args.build, workdir, wl["agencies"],
                                              wl["rows"], mode))
    return dict(bets=wl["agencies"] * wl["rows"], ours=samples, capacity=True)


def bench_postgres(args, workdir, wl_id, wl):
    """Ours over PostgreSQL against psql's \\copy of the same rows into
    the same table, each run a new lottery of the same cluster."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                    "..", "integration"))
    import pg_cluster

    if not pg_cluster.available():
        raise RuntimeError(f"no PostgreSQL binaries in {pg_cluster.PG_BIN}")
    cluster = pg_cluster.Cluster()
    files, copies = [], []
    for i in range(wl["agencies"]):
        path = os.path.join(args.data, f"w{wl_id}-agency-{i + 1}.csv")
        generate(args.gen, path, wl["rows"], 1000 * wl_id + i)
        files.append(path)
        # The table's own columns before the file's: lottery 0, batch 1.
        copy = os.path.join(workdir, f"copy-{i + 1}.csv")
        with open(path, "rb") as src, open(copy, "wb") as dst:
            for line in src:
                dst.write(b"0,1,%d," % (i + 1) + line)
        copies.append(copy)
    ours, floor = [], []
    try:
        for run in range(args.runs):
            extra = ("--storage-backend", "postgresql", "--storage-dsn",
                     cluster.dsn(), "--lottery-name", f"bench-{wl_id}-{run}")
            ours.append(run_ours(args.build, workdir, files, "batch",
                                 extra=extra, servers=wl.get("servers", 1)))
            start = time.monotonic()
            loaders = [subprocess.Popen(
                [f"{pg_cluster.PG_BIN}/psql", "-X", "-q", "-d", cluster.dsn(),
                 "-c", "\\copy lottery_bet (lottery, batch, agency, first_name, "
                 f"last_name, document, birthdate, number) FROM '{c}' CSV"])
                for c in copies]
            if any(p.wait() != 0 for p in loaders):
                raise RuntimeError("psql \\copy failed")
            floor.append(dict(wall=time.monotonic() - start))
    finally:
        cluster.remove()
    bets = wl["rows"] * wl["agencies"]
    return dict(bets=bets, postgres=True, ours=ours, floor=floor)


def postgres_table(results):
    lines = ["| workload | ours min / median (s) | bets/s (median) | "
             "psql \\copy floor median (s) | ours/floor | server peak RSS (MiB) |",
             "|---|---|---|---|---|---|"]
    for wl_id, r in sorted(results.items()):
        if not r.get("postgres"):
            continue
        omin, omed = summary(r["ours"], "wall")
        fmed = summary(r["floor"], "wall")[1]
        lines.append(f"| {wl_id}. {WORKLOADS[wl_id]['name']} | {omin:.3f} / "
                     f"{omed:.3f} | {r['bets'] / omed:,.0f} | {fmed:.3f} | "
                     f"{omed / fmed:.2f} | "
                     f"{fmt_mib(max(s['server_rss'] for s in r['ours']))} |")
    return "\n".join(lines)


def capacity_table(results):
    lines = ["| workload | time to last winners min / median (s) | bets/s (median) | "
             "ACK p50 / p99 / max (ms, median run) | server CPU (s) | "
             "server peak RSS (MiB) |",
             "|---|---|---|---|---|---|"]
    for wl_id, r in sorted(results.items()):
        if not r.get("capacity"):
            continue
        for mode, runs in r["ours"].items():
            tmin, tmed = summary(runs, "seconds")
            mid = sorted(runs, key=lambda s: s["seconds"])[len(runs) // 2]
            lines.append("| " + " | ".join([
                f"{wl_id}. {WORKLOADS[wl_id]['name']}, sync {mode}",
                f"{tmin:.3f} / {tmed:.3f}", f"{r['bets'] / tmed:,.0f}",
                f"{mid['ack_p50_ms']:.1f} / {mid['ack_p99_ms']:.1f} / "
                f"{mid['ack_max_ms']:.1f}",
                f"{statistics.median(s['server_cpu'] for s in runs):.2f}",
                fmt_mib(max(s["server_rss"] for s in runs))]) + " |")
    return "\n".join(lines)


def table(results):
    lines = ["| workload | ours min / median (s) | bets/s (median) | MB/s | "
             "socat floor median (s) | ours/socat | cat floor median (s) | ours/cat | "
             "server CPU (s) | clients CPU (s) | server peak RSS (MiB) | client peak RSS (MiB) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for wl_id, r in sorted(results.items()):
        if r.get("capacity") or r.get("postgres"):
            continue
        for mode, ours in r["ours"].items():
            wl = WORKLOADS[wl_id]
            omin, omed = summary(ours, "wall")
            row = [f"{wl_id}. {wl['name']}, sync {mode}", f"{omin:.3f} / {omed:.3f}",
                   f"{r['bets'] / omed:,.0f}", f"{r['bytes'] / omed / 1e6:.0f}"]
            if r["socat"]:
                smed = summary(r["socat"], "wall")[1]
                row += [f"{smed:.3f}", f"{omed / smed:.2f}"]
            else:
                row += ["–", "–"]
            if r["cat"]:
                cmed = summary(r["cat"], "wall")[1]
                row += [f"{cmed:.3f}", f"{omed / cmed:.2f}"]
            else:
                row += ["–", "–"]
            row += [f"{statistics.median(s['server_cpu'] for s in ours):.2f}",
                    f"{statistics.median(s['client_cpu'] for s in ours):.2f}",
                    fmt_mib(max(s["server_rss"] for s in ours)),
                    fmt_mib(max(s["client_rss"] for s in ours))]
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--workloads", default="1,2,3,4,5,6,7")
    ap.add_argument("--data", help="where generated data is kept between runs")
    ap.add_argument("--json", help="also write the raw samples here")
    ap.add_argument("--storage-sync", dest="sync", default="batch,none",
                    help="storage.sync modes to run, comma-separated")
    args = ap.parse_args()
    args.sync = args.sync.split(",")
    args.build = os.path.abspath(args.build)
    args.gen = os.path.join(args.build, "tests/tools/lottery-gen-bets")
    args.data = args.data or os.path.join(tempfile.gettempdir(), "lottery-bench-data")
    os.makedirs(args.data, exist_ok=True)

    results = {}
    with tempfile.TemporaryDirectory(prefix="lottery-bench.") as workdir:
        for wl_id in (int(w) for w in args.workloads.split(",")):
            wl = WORKLOADS[wl_id]
            print(f"running workload {wl_id}: {wl['name']} ...", file=sys.stderr, flush=True)
            if wl_id == 5:
                results[wl_id] = bench_draw(args, workdir, wl)
            elif wl.get("capacity"):
                results[wl_id] = bench_capacity(args, workdir, wl)
            elif wl.get("postgres"):
                results[wl_id] = bench_postgres(args, workdir, wl_id, wl)
            else:
                results[wl_id] = bench_upload(args, workdir, wl_id, wl)
    if any(not r.get("capacity") and not r.get("postgres")
           for r in results.values()):
        print(table(results))
    if any(r.get("postgres") for r in results.values()):
        print(postgres_table(results))
    if any(r.get("capacity") for r in results.values()):
        print(capacity_table(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
