#!/usr/bin/env python3
# Every line the programs print on stdout during a representative run
# (a lottery with two agencies at DEBUG with GLib's own debug messages
# on, a bad bets file, a bad storage path, a server stopped by SIGTERM),
# in English and under LANGUAGE=es, is a log line:
#   YYYY-MM-DD HH:MM:SS LEVEL    action: X | result: Y | key: value
# and no value is translated (log values never are): under LANGUAGE=es
# no line holds the project's Spanish words (po/es.po) or libc's or
# GLib's, and each `error:` value is the one the same run logs under
# LANGUAGE=C, once paths and numbers are masked (or, for an error of
# GLib's or GIO's whose own text GLib translates, its stable name
# "<domain> <code>" after the same words of ours). The run goes through
# failures that log error values: a missing bets file, an unreachable
# server, a bad config, --http-listen on a taken address, a refused
# agency, a storage path that cannot be opened. TAP output.
import os
import re
import signal
import socket
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


# libc's and GLib's own Spanish for the failures above: not in po/es.po.
FOREIGN_SPANISH = (
    "No existe el fichero", "Conexión rehusada", "ya se está usando",
    "Error al vincular", "No se pudo conectar", "Permiso denegado",
    "Operación cancelada", "Error al abrir", "Error al leer",
    "No es un directorio", "Falló", "fallida",
)

STABLE_NAME = re.compile(r"[a-z-]+-quark [a-zN-]+$")
ERROR_VALUE = re.compile(r"\| error: ([^|]*)")


def free_port():
    """A port nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def failures(env, tmp, port):
    """The stdout lines of runs that fail with an error value."""
    runs = []
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    bad_config = os.path.join(tmp, "bad.json")
    with open(bad_config, "w") as f:
        f.write('{"server": {"port": 0,}}\n')
    commands = [
        # A missing bets file.
        [CLIENT, "--id", "1", "--server", "127.0.0.1:" + port,
         "--bets-file", os.path.join(tmp, "missing.csv")],
        # An agency the server does not know: refused.
        [CLIENT, "--id", "9", "--server", "127.0.0.1:" + port,
         "--bets-file", os.path.join(tmp, "a.csv")],
        # A server nothing listens on.
        [CLIENT, "--id", "1", "--server", "127.0.0.1:%d" % free_port(),
         "--bets-file", os.path.join(tmp, "a.csv")],
        # A storage path that cannot be opened.
        [SERVER, "--port", "0", "--storage", "/nonexistent/dir/bets.csv"],
        # A config file that is not JSON.
        [SERVER, "--config", bad_config],
        # HTTP on an address already taken.
        [SERVER, "--port", "0", "--storage", os.path.join(tmp, "h.csv"),
         "--http-listen", "127.0.0.1:%d" % taken.getsockname()[1]],
    ]
    procs = [subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        text=True, env=env, cwd=tmp) for command in commands]
    for proc in procs:
        out, _ = proc.communicate(timeout=60)
        runs.extend(out.splitlines(keepends=True))
    taken.close()
    return runs


def error_values(lines, tmp):
    """The masked `error:` values of @lines, with their action."""
    values = set()
    for line in lines:
        action = re.search(r"action: (\S+)", line)
        for value in ERROR_VALUE.findall(line):
            value = value.strip().replace(tmp, "TMP")
            value = re.sub(r"\d+", "N", value)
            values.add((action.group(1) if action else "?", value))
    return values


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
    for client in clients:
        lines.extend(client.stdout.splitlines(keepends=True))
    lines.extend(failures(env, tmp, port))
    time.sleep(0.2)
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=30)
    reader.join()
    return [line.rstrip("\n") for line in lines]


def main():
    fragments = spanish_fragments(PO)
    runs = [("C", {}), ("es", {"LANGUAGE": "es", "LANG": "C.UTF-8"})]
    print("1..%d" % (3 * len(runs)))
    n = 0
    reference = None
    for name, extra in runs:
        env = dict(os.environ)
        env.update(extra)
        env["G_MESSAGES_DEBUG"] = "all"
        with tempfile.TemporaryDirectory() as tmp:
            lines = run(env, tmp)
            values = error_values(lines, tmp)
        bad = [line for line in lines if not LINE.match(line)]
        n += 1
        print("%s %d every line is a log line (%s, %d lines)"
              % ("not ok" if bad or not lines else "ok", n, name, len(lines)))
        for line in bad[:20]:
            print("# " + line)
        translated = [(line, f) for line in lines
                      for f in fragments | set(FOREIGN_SPANISH) if f in line]
        n += 1
        print("%s %d no value is translated (%s)"
              % ("not ok" if translated else "ok", n, name))
        for line, fragment in translated[:20]:
            print("# «%s» in: %s" % (fragment, line))
        # The failures above must have logged their error values, and in
        # Spanish the same ones as in C.
        if reference is None:
            reference = values
            wrong = [] if len(values) >= 6 else [("too few", str(values))]
        else:
            # A GLib or GIO error's own text is translated: under es it
            # is logged as its stable name, after the same words of ours.
            named = {v for v in values - reference
                     if STABLE_NAME.search(v[1]) and any(
                         c[0] == v[0] and
                         c[1].startswith(STABLE_NAME.sub("", v[1]))
                         for c in reference)}
            wrong = ([("es only", v)
                      for v in sorted(values - reference - named)] +
                     [("C only", v) for v in sorted(reference - values)
                      if not any(n[0] == v[0] and v[1].startswith(
                          STABLE_NAME.sub("", n[1])) for n in named)])
        n += 1
        print("%s %d error values are the C ones (%s, %d values)"
              % ("not ok" if wrong else "ok", n, name, len(values)))
        for kind, value in wrong[:20]:
            print("# %s: %s" % (kind, value))


main()
