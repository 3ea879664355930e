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
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from pg_cluster import PASSWORD, PG_BIN, Cluster, available, free_port, run

SERVER = os.environ["LOTTERY_SERVER"]
CLIENT = os.environ["LOTTERY_CLIENT"]
GEN_BETS = os.environ["LOTTERY_GEN_BETS"]
WINNING = "7574"


def server_env(cluster, dbname="postgres", password=PASSWORD, agencies=5):
    env = dict(os.environ)
    env.update(SERVER_STORAGE_BACKEND="postgresql",
               SERVER_STORAGE_DSN=cluster.dsn(dbname, password),
               SERVER_AGENCIES=str(agencies),
               SERVER_LOTTERY_NAME="test")
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


def upload(server_port, agency, path, batch=128, log_level="INFO"):
    """server_port: a port, or a list of ports (failover, in order)."""
    ports = server_port if isinstance(server_port, list) else [server_port]
    env = dict(os.environ, CLI_ID=str(agency), CLI_BETS_FILE=path,
               CLI_SERVER_ADDRESS=",".join(f"127.0.0.1:{p}" for p in ports),
               CLI_BATCH_MAXAMOUNT=str(batch), CLI_LOG_LEVEL=log_level)
    return subprocess.Popen([CLIENT, "-q"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


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


def test_five_agencies(cluster, workdir):
    """One server, five agencies: each gets exactly its winners, every
    bet is stored once, and --export-csv gives them back."""
    rows, winners = [3000, 1, 500, 2000, 257], [3, 0, 1, 5, 2]
    run([SERVER, "--init-db"], env=server_env(cluster), cwd=workdir)
    server = Server(cluster, workdir)
    files = [generate(workdir, a + 1, rows[a], winners[a]) for a in range(5)]
    clients = [upload(server.port, a + 1, files[a]) for a in range(5)]
    expected = []
    for a, client in enumerate(clients):
        out, _ = client.communicate(timeout=120)
        assert client.returncode == 0, out
        check_winners(out, a + 1, files[a], winners[a])
        expected += [[str(a + 1)] + r for r in read_rows(files[a])]
    assert "action: database | result: success" in server.output()
    assert PASSWORD not in server.output()
    server.stop()

    assert cluster.psql("SELECT count(*) FROM lottery_bet") == \
        str(sum(rows))
    # The draw wrote the winners, once, and when it ran.
    assert cluster.psql("SELECT count(*) FROM lottery_winner") == \
        str(sum(winners))
    assert cluster.psql("SELECT drawn IS NOT NULL FROM lottery") == "t"
    assert cluster.psql("SELECT count(*) FROM (SELECT agency, document "
                        "FROM lottery_bet GROUP BY 1, 2 "
                        "HAVING count(*) > 1) d") == "0"
    export = os.path.join(workdir, "export.csv")
    run([SERVER, "--export-csv", export], env=server_env(cluster),
        cwd=workdir)
    assert sorted(read_rows(export)) == sorted(expected)


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


def resume_to_the_end(cluster, workdir, port, dbname, files, winners, rows):
    """A new server on the same database and port: every agency resumes
    and gets its winners, and every bet is stored exactly once."""
    server = Server(cluster, workdir, port=port, dbname=dbname,
                    agencies=len(files))
    assert "action: resume | result: success" in server.output()
    clients = [upload(port, a + 1, f) for a, f in enumerate(files)]
    for a, client in enumerate(clients):
        out, _ = client.communicate(timeout=120)
        assert client.returncode == 0, out
        check_winners(out, a + 1, files[a], winners[a])
    server.stop()
    assert cluster.psql("SELECT count(*) FROM lottery_bet", dbname) == \
        str(sum(rows))


def test_kill_mid_upload(cluster, workdir):
    """SIGKILL of the server in the middle of the upload: a new server
    takes the lottery back from the database, the agencies resume, and
    every bet is stored exactly once, with the right winners."""
    rows, winners = [20000, 15000, 12000], [4, 2, 3]
    cluster.psql("CREATE DATABASE killed")
    files = [generate(workdir, a + 1, rows[a], winners[a]) for a in range(3)]
    server = Server(cluster, workdir, dbname="killed", agencies=3)
    clients = [upload(server.port, a + 1, files[a], batch=5)
               for a in range(3)]
    wait_for_bets(cluster, "killed", 2000, server)
    server.proc.kill()
    server.proc.wait()
    stored = int(cluster.psql("SELECT count(*) FROM lottery_bet", "killed"))
    assert stored < sum(rows), "the upload was over before the kill"
    for client in clients:
        client.communicate(timeout=120)
    resume_to_the_end(cluster, workdir, server.port, "killed", files,
                      winners, rows)
    for a in range(3):
        assert cluster.psql("SELECT count(DISTINCT document) FROM lottery_bet "
                            f"WHERE agency = {a + 1}", "killed") == \
            str(len({r[2] for r in read_rows(files[a])}))


def test_database_restart_mid_upload(cluster, workdir):
    """pg_ctl restart -m immediate in the middle of the upload: the
    server says the database failed, takes no more batches, and a
    restarted server resumes every agency from what was committed:
    nothing acknowledged lost, nothing stored twice."""
    rows, winners = [20000, 15000], [3, 1]
    cluster.psql("CREATE DATABASE restarted")
    files = [generate(workdir, a + 1, rows[a], winners[a]) for a in range(2)]
    server = Server(cluster, workdir, dbname="restarted", agencies=2)
    # DEBUG: the client logs every batch acknowledged.
    clients = [upload(server.port, a + 1, files[a], batch=5,
                      log_level="DEBUG") for a in range(2)]
    wait_for_bets(cluster, "restarted", 2000, server)
    cluster.restart_immediate()
    for a, client in enumerate(clients):
        out, _ = client.communicate(timeout=120)
        acked = [int(n) for n in re.findall(
            r"action: enviar_lote \| result: success \| lote: (\d+)", out)]
        assert acked, out
        # Every batch acknowledged was committed before the crash.
        last = int(cluster.psql("SELECT last_batch FROM lottery_agency "
                                f"WHERE agency = {a + 1}", "restarted"))
        assert max(acked) <= last, (a + 1, max(acked), last)
    assert "action: database | result: fail" in server.output(), \
        server.output()
    assert int(cluster.psql("SELECT count(*) FROM lottery_bet",
                            "restarted")) < sum(rows)
    server.proc.terminate()
    server.proc.wait(30)
    resume_to_the_end(cluster, workdir, server.port, "restarted", files,
                      winners, rows)


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
        assert client.returncode == 0, out
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
             test_failover_address_list]
    print(f"1..{len(tests)}")
    failed = 0
    cluster = Cluster()
    for i, test in enumerate(tests, 1):
        workdir = tempfile.mkdtemp(prefix="lottery-pgtest-")
        try:
            test(cluster, workdir)
            print(f"ok {i} {test.__name__}")
        except Exception as e:  # report and go on with the next
            failed += 1
            print(f"not ok {i} {test.__name__}: {e!r}"[:2000])
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    cluster.remove()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
