"""Fixtures of the fault tests: a PostgreSQL of their own per session, a Redis and a database per test.

Every server and process is started here and stopped in a finally clause, whatever the test did;
a missing binary skips the tests on a laptop and fails them in CI (tests/conftest.py).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require_service
from tests.faults.deployment import Deployment, build_template
from tests.support.servers import PostgresServer, RedisServer, postgres_bin_dir, redis_server_binary


@pytest.fixture(scope="session")
def fault_postgres() -> Iterator[PostgresServer]:
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        require_service(
            "PostgreSQL server binaries", "no initdb/pg_ctl under /usr/lib/postgresql/*/bin (or PG_BIN_DIR)"
        )
    if shutil.which("runuser") is None and bin_dir is not None:
        require_service("runuser", "needed to run PostgreSQL as the postgres user when the tests run as root")
    assert bin_dir is not None
    server = PostgresServer(bin_dir)
    var_dir = Path(tempfile.mkdtemp(prefix="nurture-fault-var-"))
    try:
        server.init().start()
        build_template(server, var_dir)
        yield server
    finally:
        server.cleanup()
        shutil.rmtree(var_dir, ignore_errors=True)


@pytest.fixture
def deployment(fault_postgres: PostgresServer, tmp_path: Path) -> Iterator[Deployment]:
    if redis_server_binary() is None:
        require_service("redis-server", "not on PATH")
    if not fault_postgres.running():  # a test that restarted it failed half-way
        fault_postgres.start()
    redis = RedisServer(tmp_path / "redis").start()
    try:
        deployment = Deployment(fault_postgres, redis, tmp_path)
    except BaseException:
        redis.stop()
        raise
    try:
        yield deployment
    finally:
        deployment.close()
