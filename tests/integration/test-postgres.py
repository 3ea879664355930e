#!/usr/bin/env python3
"""test-postgres.py: lottery-server with storage.backend = postgresql,
against a throwaway PostgreSQL cluster of its own (initdb + pg_ctl on a
Unix socket in a temporary directory, fsync on), always stopped and
removed at the end, whatever happens.

Exit 77 (skipped) only where the PostgreSQL binaries are missing.
Programs from LOTTERY_SERVER, LOTTERY_CLIENT, LOTTERY_GEN_BETS.
"""
import atexit
import csv
import glob
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

from pg_cluster import PASSWORD, PG_BIN, Cluster, available, free_port, run

SERVER = os.environ["LOTTERY_SERVER"]
CLIENT = os.environ["LOTTERY_CLIENT"]
GEN_BETS = os.environ["LOTTERY_GEN_BETS"]
WINNING = "7574"


def server_env(cluster, dbname="postgres", password=PASSWORD, agencies=5,
               lottery="test", dsn=None):
    env = dict(os.environ)
    env.update(SERVER_STORAGE_BACKEND="postgresql",
               SERVER_STORAGE_DSN=dsn or cluster.dsn(dbname, password),
               SERVER_AGENCIES=str(agencies),
               SERVER_LOTTERY_NAME=lottery)
    return env


class Server:
    def __init__(self, cluster, workdir, port=None, **kwargs):
        self.port = port or free_port()
        self.log = open(os.path.join(workdir, f"server-{self.port}.log"), "w+")
        self.proc = subprocess.Popen([SERVER, "--port", str(self.port)],
                                     env=server_env(cluster, **kwargs),
                                     cwd=workdir, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        atexit.register(self.kill)
        deadline = time.monotonic() + 30
        while "action: accept_connections | result: in_progress" not in \
                self.output():
            assert self.proc.poll() is None, self.output()
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self):
        self.proc.terminate()
        assert self.proc.wait(30) == 0, self.output()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def generate(workdir, agency, rows, winners):
    path = os.path.join(workdir, f"agency-{agency}.csv")
    run([GEN_BETS, "-n", str(rows), "-s", str(agency * 7 + 1), "-w",
         str(winners), "-o", path])
    return path


def read_rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


class Client:
    """A lottery-client whose output goes to a file, so that a client
    nobody reads yet never blocks on a full pipe."""

    def __init__(self, argv, env, path):
        self.log = open(path + f".{time.monotonic_ns()}.out", "w+")
        self.proc = subprocess.Popen(argv, env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        atexit.register(self.kill)

    @property
    def returncode(self):
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def communicate(self, timeout=None):
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            self.log.seek(0)
            raise AssertionError(f"client still running after {timeout} s; "
                                 f"its last lines: {self.log.read()[-1200:]}")
        self.log.flush()
        self.log.seek(0)
        return self.log.read(), None


def upload(server_port, agency, path, batch=128, log_level="INFO"):
    """server_port: a port, or a list of ports (failover, in order)."""
    ports = server_port if isinstance(server_port, list) else [server_port]
    env = dict(os.environ, CLI_ID=str(agency), CLI_BETS_FILE=path,
               CLI_SERVER_ADDRESS=",".join(f"127.0.0.1:{p}" for p in ports),
               CLI_BATCH_MAXAMOUNT=str(batch), CLI_LOG_LEVEL=log_level)
    return Client([CLIENT, "-q"], env, path)


def check_store_refused(cluster, workdir, dbname, password, expect):
    """The server exits 1 with one clear line naming what failed, and
    the password never appears in what it says."""
    proc = subprocess.run([SERVER, "--init-db"],
                          env=server_env(cluster, dbname, password),
                          cwd=workdir, capture_output=True, text=True,
                          timeout=60)
    said = proc.stdout + proc.stderr
    assert proc.returncode == 1, (proc.returncode, said)
    errors = [line for line in proc.stderr.splitlines()
              if line.startswith("lottery-server: ")]
    assert len(errors) == 1, proc.stderr
    assert re.search(expect, errors[0]), errors[0]
    assert password not in said, said


def rotated(ports, agency):
    """The address list of @agency: every server, starting at a
    different one for each agency."""
    k = agency % len(ports)
    return ports[k:] + ports[:k]


def expected_rows(files):
    rows = []
    for a, path in enumerate(files):
        rows += [[str(a + 1)] + r for r in read_rows(path)]
    return rows


def check_stored_once(cluster, workdir, files, **kwargs):
    """The lottery holds exactly the generated bets, each once
    (--export-csv against the files)."""
    export = os.path.join(workdir, "export.csv")
    run([SERVER, "--export-csv", export],
        env=server_env(cluster, agencies=len(files), **kwargs), cwd=workdir)
    got, want = sorted(read_rows(export)), sorted(expected_rows(files))
    assert got == want, (len(got), len(want))


def test_five_agencies(cluster, workdir):
    """Two servers live on one lottery, five agencies spread over both:
    each gets exactly its winners, every bet is stored once, the draw
    ran once, and --export-csv gives them back."""
    rows, winners = [3000, 1, 500, 2000, 257], [3, 0, 1, 5, 2]
    run([SERVER, "--init-db"], env=server_env(cluster), cwd=workdir)
    servers = [Server(cluster, workdir) for _ in range(2)]
    ports = [s.port for s in servers]
    files = [generate(workdir, a + 1, rows[a], winners[a]) for a in range(5)]
    clients = [upload(rotated(ports, a), a + 1, files[a]) for a in range(5)]
    for a, client in enumerate(clients):
        out, _ = client.communicate(timeout=120)
        assert client.returncode == 0, out[-1800:]
        check_winners(out, a + 1, files[a], winners[a])
    for server in servers:
        assert "action: database | result: success" in server.output()
        assert PASSWORD not in server.output()
        assert "action: sorteo | result: success" in server.output()
    # Both servers had agencies of their own.
    for server in servers:
        assert "action: hello | result: success" in server.output()
    # Either server's status shows every agency, wherever it uploaded.
    for server in servers:
        check_status(server, rows)
    for server in servers:
        server.stop()

    check_stored_once(cluster, workdir, files)
    # The draw wrote the winners, once, and when it ran.
    assert cluster.psql("SELECT count(*) FROM lottery_winner") == \
        str(sum(winners))
    assert cluster.psql("SELECT drawn IS NOT NULL FROM lottery") == "t"
    # A clean stop gives the leases back.
    assert cluster.psql("SELECT count(*) FROM lottery_agency "
                        "WHERE lease_holder IS NOT NULL") == "0"


def check_status(server, rows):
    """--status of @server shows every agency's bets and finish, and the
    draw, within a few seconds (the servers read each other's agencies
    from the database every 2 s)."""
    # The agencies are gone: none connected, here or elsewhere.
    want = [dict(id=a + 1, bets=n, finished=True, connected=False)
            for a, n in enumerate(rows)]
    deadline = time.monotonic() + 15
    while True:
        proc = subprocess.run([CLIENT, "--status", "--json", "--server",
                               f"127.0.0.1:{server.port}"],
                              capture_output=True, text=True, timeout=30)
        assert proc.returncode == 0, proc.stderr
        doc = json.loads(proc.stdout)
        got = [dict(id=a["id"], bets=a["bets"], finished=a["finished"],
                    connected=a["connected"]) for a in doc["agencies"]]
        if got == want and doc["bets"] == sum(rows) and doc["draw"]["done"]:
            return
        assert time.monotonic() < deadline, (server.port, doc)
        time.sleep(0.2)


def check_winners(out, agency, path, count):
    assert f"cant_ganadores: {count}" in out, out
    got = sorted(re.findall(r"action: ganador \| result: success .*"
                            r"dni: (\d+)", out))
    want = sorted(r[2] for r in read_rows(path) if r[4] == WINNING)
    assert got == want, (agency, got, want)


def wait_for_bets(cluster, dbname, count, server):
    """Until the database holds @count bets of the upload under way."""
    deadline = time.monotonic() + 60
    while int(cluster.psql("SELECT count(*) FROM lottery_bet", dbname)) \
            < count:
        assert time.monotonic() < deadline, server.output()
        time.sleep(0.05)


def acked_batches(out):
    return [int(n) for n in re.findall(
        r"action: enviar_lote \| result: success \| lote: (\d+)", out)]


def test_kill_mid_upload(cluster, workdir):
    """SIGKILL of one of two live servers in the middle of the upload:
    its agencies fail over to the other (once their leases run out) and
    finish; every bet is stored exactly once, with the right winners."""
    rows, winners = [20000, 15000, 12000, 9000], [4, 2, 3, 1]
    cluster.psql("CREATE DATABASE killed")
    files = [generate(workdir, a + 1, rows[a], winners[a]) for a in range(4)]
    servers = [Server(cluster, workdir, dbname="killed", agencies=4)
               for _ in range(2)]
    ports = [s.port for s in servers]
    clients = [upload(rotated(ports, a), a + 1, files[a], batch=5)
               for a in range(4)]
    wait_for_bets(cluster, "killed", 4000, servers[0])
    servers[0].proc.kill()
    servers[0].proc.wait()
    stored = int(cluster.psql("SELECT count(*) FROM lottery_bet", "killed"))
    assert stored < sum(rows), "the upload was over before the kill"
    for a, client in enumerate(clients):
        out, _ = client.communicate(timeout=120)
        assert client.returncode == 0, out[-1800:]
        check_winners(out, a + 1, files[a], winners[a])
    servers[1].stop()
    check_stored_once(cluster, workdir, files, dbname="killed")


def test_database_restart_mid_upload(cluster, workdir):
    """pg_ctl restart -m immediate in the middle of the upload: both
    servers say the database failed and came back, without a restart;
    the agencies retry and finish: nothing acknowledged lost, nothing
    stored twice, the right winners."""
    rows, winners = [20000, 15000, 12000], [3, 1, 2]
    cluster.psql("CREATE DATABASE restarted")
    files = [generate(workdir, a + 1, rows[a], winners[a]) for a in range(3)]
    servers = [Server(cluster, workdir, dbname="restarted", agencies=3)
               for _ in range(2)]
    ports = [s.port for s in servers]
    # DEBUG: the client logs every batch acknowledged.
    clients = [upload(rotated(ports, a), a + 1, files[a], batch=5,
                      log_level="DEBUG") for a in range(3)]
    wait_for_bets(cluster, "restarted", 3000, servers[0])
    cluster.restart_immediate()
    for a, client in enumerate(clients):
        out, _ = client.communicate(timeout=120)
        assert client.returncode == 0, out[-1800:]
        assert acked_batches(out), out
        check_winners(out, a + 1, files[a], winners[a])
    for server in servers:
        said = server.output()
        assert "action: database | result: fail" in said, said
        assert "action: database | result: success | dsn: " in said and \
            "reconnected: true" in said, said
        assert server.proc.poll() is None, said
    for server in servers:
        server.stop()
    check_stored_once(cluster, workdir, files, dbname="restarted")


def test_draw_race(cluster, workdir, repetitions=50):
    """The last two FINISHes reach two servers at the same moment, again
    and again: the draw runs exactly once each time and both agencies
    get their winners."""
    cluster.psql("CREATE DATABASE race")
    files = [generate(workdir, a + 1, 40, 2) for a in range(2)]
    for rep in range(repetitions):
        lottery = f"race-{rep}"
        servers = [Server(cluster, workdir, dbname="race", agencies=2,
                          lottery=lottery) for _ in range(2)]
        clients = [upload(servers[a].port, a + 1, files[a])
                   for a in range(2)]
        for a, client in enumerate(clients):
            out, _ = client.communicate(timeout=60)
            assert client.returncode == 0, (rep, out)
            check_winners(out, a + 1, files[a], 2)
        for server in servers:
            server.stop()
        got = cluster.psql("SELECT count(*) FROM lottery_winner w JOIN lottery l "
                           f"ON l.id = w.lottery WHERE l.name = '{lottery}'",
                           "race")
        assert got == "4", (rep, got)


def test_busy_then_lease_expiry(cluster, workdir):
    """A second connection for a live agency on the other server is
    refused as busy; once the first server dies, its lease runs out and
    the agency goes on there, every bet once."""
    cluster.psql("CREATE DATABASE lease")
    files = [generate(workdir, 1, 30000, 3)]
    servers = [Server(cluster, workdir, dbname="lease", agencies=1)
               for _ in range(2)]
    first = upload(servers[0].port, 1, files[0], batch=5)
    wait_for_bets(cluster, "lease", 1000, servers[0])
    second = upload(servers[1].port, 1, files[0], batch=5)
    deadline = time.monotonic() + 30
    while "live connection on another server" not in servers[1].output():
        assert time.monotonic() < deadline, servers[1].output()
        time.sleep(0.05)
    servers[0].proc.kill()
    servers[0].proc.wait()
    killed_at = time.monotonic()
    first.kill()
    out, _ = second.communicate(timeout=120)
    assert second.returncode == 0, out[-1800:]
    # Not before the lease ran out (10 s after its last renewal, at most
    # 3 s before the kill).
    assert time.monotonic() - killed_at >= 6, out
    check_winners(out, 1, files[0], 3)
    servers[1].stop()
    check_stored_once(cluster, workdir, files, dbname="lease")


class SocketProxy:
    """The cluster's Unix socket seen through another directory, so that
    one server's way to the database can be cut while the others' stays:
    cut () closes every connection and removes the socket."""

    def __init__(self, cluster):
        self.dir = tempfile.mkdtemp(prefix="lottery-pgproxy-")
        name = f".s.PGSQL.{cluster.port}"
        self.target = os.path.join(cluster.sock, name)
        self.path = os.path.join(self.dir, name)
        self.listener = socket.socket(socket.AF_UNIX)
        self.listener.bind(self.path)
        self.listener.listen(64)
        self.sockets = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.accept, daemon=True)
        self.thread.start()

    def accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.socket(socket.AF_UNIX)
            server.connect(self.target)
            with self.lock:
                self.sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self.pump, args=(a, b),
                                 daemon=True).start()

    @staticmethod
    def pump(a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        for sock in (a, b):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        self.listener.close()
        os.unlink(self.path)
        with self.lock:
            for sock in self.sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def dsn(self, cluster, dbname):
        return cluster.dsn(dbname).replace(f"host={cluster.sock}",
                                           f"host={self.dir}")


def test_server_cut_off(cluster, workdir):
    """One of two servers loses its way to the database in the middle of
    the upload (the network, not the database): its agencies are refused
    as `unavailable`, move to the other server, wait there for the cut
    server's leases to run out, and finish; every bet once."""
    rows, winners = [15000, 12000, 9000], [2, 1, 3]
    cluster.psql("CREATE DATABASE cut")
    files = [generate(workdir, a + 1, rows[a], winners[a]) for a in range(3)]
    proxy = SocketProxy(cluster)
    cut_off = Server(cluster, workdir, agencies=3,
                     dsn=proxy.dsn(cluster, "cut"))
    other = Server(cluster, workdir, dbname="cut", agencies=3)
    # Every agency starts at the server about to be cut off.
    clients = [upload([cut_off.port, other.port], a + 1, files[a], batch=5)
               for a in range(3)]
    wait_for_bets(cluster, "cut", 2000, cut_off)
    proxy.cut()
    for a, client in enumerate(clients):
        out, _ = client.communicate(timeout=120)
        assert client.returncode == 0, out[-1800:]
        check_winners(out, a + 1, files[a], winners[a])
    assert "action: database | result: fail" in cut_off.output()
    assert cut_off.proc.poll() is None, cut_off.output()
    other.stop()
    cut_off.stop()
    check_stored_once(cluster, workdir, files, dbname="cut")


def test_300_agencies_3_servers(cluster, workdir):
    """300 agencies over three live servers at once."""
    n = 300
    cluster.psql("CREATE DATABASE many")
    files = [generate(workdir, a + 1, 60, a % 3) for a in range(n)]
    servers = [Server(cluster, workdir, dbname="many", agencies=n)
               for _ in range(3)]
    ports = [s.port for s in servers]
    clients = [upload(rotated(ports, a), a + 1, files[a], batch=20)
               for a in range(n)]
    for a, client in enumerate(clients):
        out, _ = client.communicate(timeout=300)
        assert client.returncode == 0, out[-1800:]
        check_winners(out, a + 1, files[a], a % 3)
    for server in servers:
        server.stop()
    check_stored_once(cluster, workdir, files, dbname="many")


def test_failover_address_list(cluster, workdir):
    """server.address lists two servers: the first is killed mid-upload,
    a standby comes up at the second address on the same database, and
    the clients, still running, go on there from the counts it reports:
    every bet once, the right winners."""
    rows, winners = [20000, 15000, 12000], [2, 3, 1]
    cluster.psql("CREATE DATABASE failover")
    files = [generate(workdir, a + 1, rows[a], winners[a]) for a in range(3)]
    first = Server(cluster, workdir, dbname="failover", agencies=3)
    standby_port = free_port()
    clients = [upload([first.port, standby_port], a + 1, files[a], batch=5)
               for a in range(3)]
    wait_for_bets(cluster, "failover", 2000, first)
    first.proc.kill()
    first.proc.wait()
    assert int(cluster.psql("SELECT count(*) FROM lottery_bet",
                            "failover")) < sum(rows)
    standby = Server(cluster, workdir, port=standby_port, dbname="failover",
                     agencies=3)
    for a, client in enumerate(clients):
        out, _ = client.communicate(timeout=120)
        assert client.returncode == 0, out[-1800:]
        check_winners(out, a + 1, files[a], winners[a])
    standby.stop()
    assert cluster.psql("SELECT count(*) FROM lottery_bet", "failover") == \
        str(sum(rows))


def test_store_contract(cluster, workdir):
    """The LotteryStore contract tests of tests/unit/test-storage.c, run
    against this cluster."""
    cluster.psql("CREATE DATABASE contract")
    program = os.path.join(os.environ["G_TEST_BUILDDIR"], "unit",
                           "test-storage")
    proc = subprocess.run([program, "--tap", "-p",
                           "/store/contract/postgresql"],
                          env=dict(os.environ,
                                   LOTTERY_TEST_PG_DSN=cluster.dsn("contract")),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"^ok 1 /store/contract/postgresql$", proc.stdout,
                     re.M), proc.stdout


def test_refusals(cluster, workdir):
    """A bad DSN, a wrong password, a database of a newer schema: exit 1
    with one clear line, nothing written."""
    cluster.psql("CREATE DATABASE newer")
    cluster.psql("CREATE TABLE lottery_schema (version integer NOT NULL);"
                 "INSERT INTO lottery_schema VALUES (2)", "newer")
    check_store_refused(cluster, workdir, "newer", PASSWORD,
                        r"schema version 2, newer than .* 1")
    assert cluster.psql("SELECT count(*) FROM pg_tables WHERE tablename "
                        "LIKE 'lottery%'", "newer") == "1"
    check_store_refused(cluster, workdir, "postgres", "wrong-pw",
                        r"Cannot connect to the database .*password")
    check_store_refused(cluster, workdir, "nosuchdb", PASSWORD,
                        r"Cannot connect to the database .*nosuchdb")


def main():
    if not available():
        print(f"1..0 # SKIP no PostgreSQL binaries in {PG_BIN}")
        sys.exit(77)
    tests = [test_five_agencies, test_refusals, test_kill_mid_upload,
             test_database_restart_mid_upload, test_store_contract,
             test_failover_address_list, test_busy_then_lease_expiry,
             test_draw_race, test_300_agencies_3_servers,
             test_server_cut_off]
    only = os.environ.get("LOTTERY_PG_TESTS")
    if only:
        tests = [t for t in tests if t.__name__ in only.split(",")]
    print(f"1..{len(tests)}")
    failed = 0
    cluster = Cluster()
    for i, test in enumerate(tests, 1):
        workdir = tempfile.mkdtemp(prefix="lottery-pgtest-")
        try:
            started = time.monotonic()
            test(cluster, workdir)
            print(f"ok {i} {test.__name__} # {time.monotonic() - started:.1f} s")
        except Exception as e:  # report and go on with the next
            failed += 1
            print(f"not ok {i} {test.__name__}: {e!r}"[:2000])
            # What the servers said last, for a failure seen only in CI.
            for log in sorted(glob.glob(os.path.join(workdir, "server-*.log"))):
                with open(log, errors="replace") as f:
                    for line in f.readlines()[-15:]:
                        print(f"# {os.path.basename(log)}: {line.rstrip()}"[:300])
        finally:
            if os.environ.get("LOTTERY_PG_KEEP"):
                print(f"# kept {workdir}")
            else:
                shutil.rmtree(workdir, ignore_errors=True)
    cluster.remove()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
