#!/usr/bin/env python3
"""lottery-load against the real server (TAP): a clean run passes with the
counts it must have, and a server that answers wrong winners fails it.

    test-load.py SERVER LOAD
"""

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

PORT_RE = re.compile(rb"accept_connections \| result: in_progress \| port: (\d+)")
AGENCIES, BETS, BATCH = 20, 300, 64


def start_server(server, workdir, extra=()):
    log = open(os.path.join(workdir, "server.log"), "ab")
    offset = log.tell()
    proc = subprocess.Popen([server, "--port", "0", "--agencies", str(AGENCIES),
                             "--max-connections", "100", "--storage",
                             os.path.join(workdir, "bets.csv"), *extra],
                            stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with open(log.name, "rb") as f:
            f.seek(offset)
            m = PORT_RE.search(f.read())
        if m:
            return proc, int(m.group(1))
        time.sleep(0.02)
    proc.kill()
    raise RuntimeError("the server did not start")


def run_load(load, port):
    # A window of 2 batches of 64 keeps each agency's 5 batches pipelined
    # but never all in flight.
    return subprocess.run([load, "--server", f"127.0.0.1:{port}", "--agencies",
                           str(AGENCIES), "--bets", str(BETS), "--batch-size",
                           str(BATCH), "--window", "2", "--json"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=60)


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=10)


def main():
    server, load = sys.argv[1], sys.argv[2]
    print("1..2")
    with tempfile.TemporaryDirectory(prefix="lottery-load-test.") as workdir:
        proc, port = start_server(server, workdir)
        result = run_load(load, port)
        status = stop(proc)
        figures = json.loads(result.stdout) if result.returncode == 0 else {}
        batches = AGENCIES * -(-BETS // BATCH)
        ok = (result.returncode == 0 and status == 0
              and figures.get("bets") == AGENCIES * BETS
              and figures.get("acks") == batches
              and figures.get("failed") == 0 and figures.get("problems") == 0
              and figures.get("ack_p50_ms", -1) >= 0)
        if not ok:
            print(f"# exit {result.returncode}, server {status}: "
                  f"{result.stdout!r} {result.stderr!r}")
        with open(os.path.join(workdir, "bets.csv"), "rb") as f:
            rows = sum(1 for _ in f)
        ok = ok and rows == AGENCIES * BETS
        print(f"{'ok' if ok else 'not ok'} 1 - {AGENCIES} agencies x {BETS} bets: "
              f"every ACK, {rows} rows stored, every agency its winners")

        # Without its journal, adopted: the tool resumes by batch number
        # (0 here), not by the bets the server reports, so every bet is
        # stored again and each agency's winners come twice, which the
        # tool must find wrong.
        os.unlink(os.path.join(workdir, "bets.csv.journal"))
        proc, port = start_server(server, workdir,
                                  ["--storage-adopt", "true"])
        result = run_load(load, port)
        stop(proc)
        ok = result.returncode == 1 and b"FINISHED says 600" in result.stderr
        if not ok:
            print(f"# exit {result.returncode}: {result.stderr!r}")
        print(f"{'ok' if ok else 'not ok'} 2 - bets stored twice are caught "
              f"(exit {result.returncode})")


if __name__ == "__main__":
    main()
