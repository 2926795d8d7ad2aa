"""A real Kitsu API server (zou) for the tracker tests: PostgreSQL, Redis and zou under gunicorn, each on a
free port in a temporary folder, started once for the test session and torn down after it.

zou lives in `.kitsu-venv` at the repository's root, made by scripts/install-kitsu.sh (zou pins its own
numpy, Pillow, Flask...). Nothing here skips: a stack that cannot start fails the tests that need it,
with the step and its log.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".kitsu-venv"
INSTALL = "bash scripts/install-kitsu.sh"
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "admin-" + secrets.token_hex(8)  # per session: the tests check it is never printed
START_TIMEOUT = 180  # seconds; a cold start takes 15-50 s on 2 cores


@dataclass(frozen=True)
class KitsuServer:
    url: str  # the API, as gazu and shot lists name it (no nginx here: the routes are at /)
    email: str
    password: str
    seconds: float  # how long the cold start took


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin(name: str) -> str:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if found:
        return str(found[-1])
    on_path = shutil.which(name)
    if on_path is None:
        pytest.fail(f"PostgreSQL's {name} is not installed; run {INSTALL}")
    return on_path


def _as_postgres(args: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run it as the postgres user."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


def _run(step: str, args: list[str], log: Path, env=None, timeout: float = 120) -> None:
    with open(log, "ab") as out:
        result = subprocess.run(args, stdout=out, stderr=subprocess.STDOUT, env=env, timeout=timeout)
    if result.returncode != 0:
        pytest.fail(f"Kitsu test server: {step} failed (exit {result.returncode}):\n{log.read_text()[-3000:]}")


def _wait_http(url: str, proc: subprocess.Popen, log: Path, deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"Kitsu test server: zou's API exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"Kitsu test server: zou's API did not answer at {url} in {START_TIMEOUT} s:\n"
                f"{log.read_text()[-3000:]}")


_INIT = """
import sys
from zou.cli import cli
for args in (["init-db"], ["init-data"], ["create-admin", sys.argv[1], "--password", sys.argv[2]]):
    cli.main(args, standalone_mode=False)
"""


@pytest.fixture(scope="session")
def kitsu_server():
    """A running zou for the session: its URL and an admin's login. Fails (never skips) when it cannot start."""
    with running() as server:
        yield server


@contextlib.contextmanager
def running():
    """Start the stack, give its KitsuServer, tear it down (docs/make_tracker_figure.py runs it too)."""
    if not (VENV / "bin" / "gunicorn").exists():
        pytest.fail(f"zou is not installed in {VENV}; run {INSTALL} (the tracker tests need a real Kitsu server)")
    if shutil.which("redis-server") is None:
        pytest.fail(f"redis-server is not installed; run {INSTALL}")
    started = time.monotonic()
    folder = Path(tempfile.mkdtemp(prefix="shotrender-kitsu-"))
    pgdata, log = folder / "pg", folder / "stack.log"
    pgdata.mkdir()
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        shutil.chown(pgdata, "postgres")
        os.chmod(folder, 0o755)  # the log and zou's folders stay root's; postgres only needs to pass
    pg_port, kv_port, api_port = _free_port(), _free_port(), _free_port()
    procs: list[subprocess.Popen] = []
    pg_started = False
    try:
        _run("initdb", _as_postgres([_pg_bin("initdb"), "-D", str(pgdata), "-U", "zou", "--auth=trust",
                                     "--no-sync"]), log)
        _run("pg_ctl start", _as_postgres([_pg_bin("pg_ctl"), "-D", str(pgdata), "-w", "-l", str(pgdata / "log"),
                                           "-o", f"-h 127.0.0.1 -p {pg_port} -k {pgdata} -c fsync=off", "start"]),
             log)
        pg_started = True
        _run("createdb", [_pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(pg_port), "-U", "zou", "zoudb"], log)
        with open(log, "ab") as out:
            procs.append(subprocess.Popen(["redis-server", "--bind", "127.0.0.1", "--port", str(kv_port), "--save",
                                           "", "--appendonly", "no"], stdout=out, stderr=subprocess.STDOUT,
                                          start_new_session=True))
        env = {k: v for k, v in os.environ.items() if k != "INDEXER_KEY" and not k.startswith("KITSU_")}
        env.update(DB_HOST="127.0.0.1", DB_PORT=str(pg_port), DB_USERNAME="zou", DB_PASSWORD="", DB_DATABASE="zoudb",
                   KV_HOST="127.0.0.1", KV_PORT=str(kv_port), SECRET_KEY=secrets.token_hex(32),
                   PREVIEW_FOLDER=str(folder / "previews"), TMP_DIR=str(folder / "tmp"), MAIL_ENABLED="false",
                   MAIL_CHECK_DELIVERABILITY="false", BCRYPT_LOG_ROUNDS="4", HOME=str(folder))
        (folder / "tmp").mkdir()
        steps = {"PostgreSQL and Redis": time.monotonic() - started}
        _run("zou init-db, init-data, create-admin", [str(VENV / "bin" / "python"), "-c", _INIT, ADMIN_EMAIL,
                                                       ADMIN_PASSWORD], log, env=env, timeout=START_TIMEOUT)
        steps["zou init"] = time.monotonic() - started - sum(steps.values())
        url = f"http://127.0.0.1:{api_port}"
        with open(log, "ab") as out:
            procs.append(subprocess.Popen([str(VENV / "bin" / "gunicorn"), "--no-control-socket", "-w", "1", "-k",
                                           "gevent", "-b", f"127.0.0.1:{api_port}", "zou.app:app"],
                                          stdout=out, stderr=subprocess.STDOUT, env=env, cwd=folder,
                                          start_new_session=True))
        _wait_http(url + "/", procs[-1], log, started + START_TIMEOUT)
        seconds = time.monotonic() - started
        steps["zou's API"] = seconds - sum(steps.values())
        print(f"\nKitsu test server up at {url} in {seconds:.1f} s ("
              + ", ".join(f"{k} {v:.1f} s" for k, v in steps.items()) + ")", file=sys.stderr)
        yield KitsuServer(url, ADMIN_EMAIL, ADMIN_PASSWORD, seconds)
    finally:
        for proc in reversed(procs):  # throwaway data: no graceful shutdown (gunicorn's took 10-20 s)
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: gunicorn and its worker
            proc.wait()
        if pg_started:
            subprocess.run(_as_postgres([_pg_bin("pg_ctl"), "-D", str(pgdata), "-m", "immediate", "stop"]),
                           capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)
