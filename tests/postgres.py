"""A throwaway PostgreSQL server for tests: `initdb` into a temporary directory, `pg_ctl` on a free port.

Nothing depends on a server someone started by hand; `stop()` runs also when the tests fail.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import typing as t
from dataclasses import dataclass
from pathlib import Path

import psycopg

from tests.support import free_port, wait_for_port

PG_BIN_CANDIDATES = [Path("/usr/lib/postgresql") / v / "bin" for v in ("17", "16", "15", "14")]
SUPERUSER = "postgres"
DATABASE = "warehouse"


def _pg_bin(tool: str) -> str:
    for directory in PG_BIN_CANDIDATES:
        if (directory / tool).exists():
            return str(directory / tool)
    found = shutil.which(tool)
    if not found:
        raise RuntimeError(f"{tool} not found: install Debian's postgresql package (make deps does)")
    return found


@dataclass
class PostgresServer:
    data_dir: Path
    port: int
    run_as: str | None
    root: Path

    host: str = "127.0.0.1"
    user: str = SUPERUSER
    password: str = "sandbox-pg-password"
    database: str = DATABASE

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = list(args)
        if self.run_as:
            command = ["runuser", "-u", self.run_as, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode:
            raise RuntimeError(f"{' '.join(args[:2])} failed ({done.returncode}): {done.stderr or done.stdout}")
        return done

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError):  # already stopped
            self._run(_pg_bin("pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{self.database}"

    def target_env(self) -> dict[str, str]:
        """Environment variables that point meltanolabs-target-postgres at this server."""
        return {
            "TARGET_POSTGRES_HOST": self.host,
            "TARGET_POSTGRES_PORT": str(self.port),
            "TARGET_POSTGRES_USER": self.user,
            "TARGET_POSTGRES_PASSWORD": self.password,
            "TARGET_POSTGRES_DATABASE": self.database,
        }

    def query(self, sql: str) -> list[tuple[t.Any, ...]]:
        with psycopg.connect(self.url) as connection:
            return list(connection.execute(sql).fetchall())


def start_postgres() -> PostgresServer:
    """initdb + start; as root, the server runs as an unprivileged user (postgres refuses root)."""
    # A directory of its own under /tmp: the server's user must reach it (pytest's tmp dirs are 0700).
    root = Path(tempfile.mkdtemp(prefix="pg-warehouse-"))
    run_as = None
    if os.geteuid() == 0:
        run_as = "postgres" if _user_exists("postgres") else "nobody"
    server = PostgresServer(data_dir=root / "data", port=free_port(), run_as=run_as, root=root)
    password_file = root / "initdb.pw"
    password_file.write_text(server.password)
    socket_dir = root / "socket"
    for path in (server.data_dir, socket_dir):
        path.mkdir(mode=0o700)
    if run_as:
        for path in (root, password_file, server.data_dir, socket_dir):
            shutil.chown(path, user=run_as)
    server._run(
        _pg_bin("initdb"), "-D", str(server.data_dir), "-U", SUPERUSER, "--auth=md5",
        f"--pwfile={password_file}", "-E", "UTF8", "--locale=C",
    )
    server._run(
        _pg_bin("pg_ctl"), "-D", str(server.data_dir), "-l", str(root / "server.log"), "-w", "-t", "60",
        "-o", f"-p {server.port} -k {socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off", "start",
    )
    wait_for_port(server.port)
    admin_url = f"postgresql://{server.user}:{server.password}@{server.host}:{server.port}/postgres"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {DATABASE}")
    return server


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


__all__ = ["PostgresServer", "start_postgres"]
