#!/usr/bin/env python3
# Every line the programs print on stdout during a representative run
# (a lottery with two agencies at DEBUG with GLib's own debug messages
# on, a bad bets file, a bad storage path, a server stopped by SIGTERM),
# in English and under LANGUAGE=es, is a log line:
#   YYYY-MM-DD HH:MM:SS LEVEL    action: X | result: Y | key: value
# and no value holds the project's Spanish words (log values are never
# translated). TAP output.
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

SERVER = os.environ["LOTTERY_SERVER"]
CLIENT = os.environ["LOTTERY_CLIENT"]
PO = sys.argv[1]

LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR) {1,5}"
    r"action: [a-z_]+ \| result: [a-z_]+( \| [a-z_]+: [^|]*)*$")

BETS = ("Santiago Lionel,Lorca,30904465,1999-03-17,7574\n"
        "Joaquin,Ortiz,41235678,1988-01-02,2201\n")


def spanish_fragments(path):
    """Pieces of the catalog's translations long enough to be telling."""
    text = open(path, encoding="utf-8").read()
    fragments = set()
    for entry in re.findall(r'\nmsgstr ((?:".*"\n)+)', text):
        value = "".join(re.findall(r'"(.*)"', entry))
        value = value.encode().decode("unicode_escape").encode(
            "latin-1").decode("utf-8")
        for piece in re.split(r"%[-0-9.lz$]*[a-zA-Z]|\\n|\n|“|”|«|»", value):
            piece = piece.strip(" :;,.()")
            if len(piece) >= 14:
                fragments.add(piece)
    return fragments


def run(env, tmp):
    """All stdout lines of one representative run."""
    lines = []
    storage = os.path.join(tmp, "bets.csv")
    for name in ("a.csv", "b.csv"):
        with open(os.path.join(tmp, name), "w") as f:
            f.write(BETS)
    server = subprocess.Popen(
        [SERVER, "--port", "0", "--agencies", "2", "--storage", storage,
         "--log-level", "DEBUG"],
        stdout=subprocess.PIPE, text=True, env=env, cwd=tmp)
    port = None
    while port is None:
        line = server.stdout.readline()
        if not line:
            break
        lines.append(line)
        match = re.search(r"accept_connections .*port: (\d+)", line)
        if match:
            port = match.group(1)
    assert port is not None, "the server did not start"
    # The server's lines are read all along, so a full pipe never stops it.
    reader = threading.Thread(
        target=lambda: lines.extend(iter(server.stdout.readline, "")))
    reader.start()
    uploads = [subprocess.Popen(
        [CLIENT, "--id", str(agency), "--server", "127.0.0.1:" + port,
         "--bets-file", os.path.join(tmp, name), "--log-level", "DEBUG"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env=env, cwd=tmp) for agency, name in ((1, "a.csv"), (2, "b.csv"))]
    clients = []
    for upload in uploads:
        out, _ = upload.communicate(timeout=60)
        clients.append(subprocess.CompletedProcess(upload.args, 0, out))
    # An agency whose bets file is missing, and a second server on a
    # storage path that cannot be opened: error values.
    clients.append(subprocess.run(
        [CLIENT, "--id", "1", "--server", "127.0.0.1:" + port,
         "--bets-file", os.path.join(tmp, "missing.csv")],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env=env, cwd=tmp, timeout=60))
    clients.append(subprocess.run(
        [SERVER, "--port", "0", "--storage", "/nonexistent/dir/bets.csv"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env=env, cwd=tmp, timeout=60))
    for client in clients:
        lines.extend(client.stdout.splitlines(keepends=True))
    time.sleep(0.2)
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=30)
    reader.join()
    return [line.rstrip("\n") for line in lines]


def main():
    fragments = spanish_fragments(PO)
    runs = [("C", {}), ("es", {"LANGUAGE": "es", "LANG": "C.UTF-8"})]
    print("1..%d" % (2 * len(runs)))
    n = 0
    for name, extra in runs:
        env = dict(os.environ)
        env.update(extra)
        env["G_MESSAGES_DEBUG"] = "all"
        with tempfile.TemporaryDirectory() as tmp:
            lines = run(env, tmp)
        bad = [line for line in lines if not LINE.match(line)]
        n += 1
        print("%s %d every line is a log line (%s, %d lines)"
              % ("not ok" if bad or not lines else "ok", n, name, len(lines)))
        for line in bad[:20]:
            print("# " + line)
        translated = [(line, f) for line in lines for f in fragments
                      if f in line]
        n += 1
        print("%s %d no value is translated (%s)"
              % ("not ok" if translated else "ok", n, name))
        for line, fragment in translated[:20]:
            print("# «%s» in: %s" % (fragment, line))


main()
