"""pg_cluster.py: a throwaway PostgreSQL cluster for the tests and the
benchmarks: initdb + pg_ctl on a Unix socket in a temporary directory
(fsync on), stopped with -m immediate and removed at exit whatever
happens (atexit), run as the postgres user when started as root."""
import atexit
import os
import pwd
import shutil
import socket
import subprocess
import tempfile

PG_BIN = os.environ.get("LOTTERY_PG_BIN", "/usr/lib/postgresql/15/bin")
PASSWORD = "s3cret-pw"


def available():
    return os.path.exists(f"{PG_BIN}/initdb")


def as_pg_user(argv):
    """initdb and postgres refuse to run as root: run them as postgres."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--"] + argv
    return argv


class Cluster:
    """A PostgreSQL cluster in a temporary directory, on a Unix socket."""

    def __init__(self):
        self.top = tempfile.mkdtemp(prefix="lottery-pg-")
        self.data = os.path.join(self.top, "data")
        self.sock = os.path.join(self.top, "sock")
        os.mkdir(self.sock)
        self.port = free_port()
        self.started = False
        atexit.register(self.remove)
        pwfile = os.path.join(self.top, "pw")
        with open(pwfile, "w") as f:
            f.write(PASSWORD + "\n")
        if os.geteuid() == 0:
            pg = pwd.getpwnam("postgres")
            for path in (self.top, self.sock, pwfile):
                os.chown(path, pg.pw_uid, pg.pw_gid)
        run(as_pg_user([f"{PG_BIN}/initdb", "-D", self.data, "-U", "postgres",
                        "--auth=scram-sha-256", f"--pwfile={pwfile}"]))
        self.start()

    def start(self):
        run(as_pg_user([f"{PG_BIN}/pg_ctl", "-D", self.data, "-l",
                        os.path.join(self.top, "log"), "-o",
                        f"-k {self.sock} -p {self.port} "
                        "-c listen_addresses='' -c fsync=on", "-w", "start"]))
        self.started = True

    def restart_immediate(self):
        """A crash of the database: no checkpoint, recovery at start."""
        run(as_pg_user([f"{PG_BIN}/pg_ctl", "-D", self.data, "-l",
                        os.path.join(self.top, "log"), "-m", "immediate",
                        "-w", "restart"]))

    def remove(self):
        if self.started:
            subprocess.run(as_pg_user([f"{PG_BIN}/pg_ctl", "-D", self.data,
                                       "-m", "immediate", "-w", "stop"]),
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            self.started = False
        shutil.rmtree(self.top, ignore_errors=True)

    def dsn(self, dbname="postgres", password=PASSWORD):
        return (f"host={self.sock} port={self.port} user=postgres "
                f"password={password} dbname={dbname}")

    def psql(self, sql, dbname="postgres"):
        out = subprocess.run([f"{PG_BIN}/psql", "-X", "-At", "-v",
                              "ON_ERROR_STOP=1", "-d", self.dsn(dbname),
                              "-c", sql], check=True, capture_output=True,
                             text=True)
        return out.stdout.strip()


def run(argv, **kwargs):
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, **kwargs)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
