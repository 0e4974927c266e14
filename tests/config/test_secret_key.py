"""The generated secret key (config/env.py secret_key_file): processes starting together agree on one."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from config.env import ImproperEnvironment, secret_key_file
from tests.support.worker import ROOT

# Each process imports what the settings import before they read the key, then waits until all
# are ready, then loads the settings, which make or read $VAR_DIR/secret_key. A process that
# creates a file is held up for a moment afterwards, as a busy machine may hold it up between
# creating the key file and writing it: that is when another process would find it empty.
START_TOGETHER = """
import os, sys, time
import dj_database_url, django_stubs_ext, kombu, csp.constants
ready, everyone = sys.argv[1], int(sys.argv[2])
open(os.path.join(ready, str(os.getpid())), "w").close()
while len(os.listdir(ready)) < everyone:
    time.sleep(0.002)
real_open = os.open
def slow_open(path, flags, *args, **kwargs):
    fd = real_open(path, flags, *args, **kwargs)
    if flags & os.O_CREAT:
        time.sleep(0.2)
    return fd
os.open = slow_open
from django.conf import settings
print(settings.SECRET_KEY)
"""
PROCESSES = 6


@pytest.mark.timeout(300)
def test_processes_starting_together_on_an_empty_directory_all_start_with_one_key(tmp_path):
    env = {key: value for key, value in os.environ.items() if key not in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL")}
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    var_dir, ready = tmp_path / "var", tmp_path / "ready"
    ready.mkdir()
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", START_TOGETHER, str(ready), str(PROCESSES)],
            cwd=ROOT,
            env={**env, "VAR_DIR": str(var_dir)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    results = [process.communicate(timeout=120) for process in processes]

    failures = [stderr for process, (_, stderr) in zip(processes, results, strict=True) if process.returncode != 0]
    assert not failures, f"{len(failures)} of {PROCESSES} did not start: {failures[0]}"
    keys = {stdout.strip().splitlines()[-1] for stdout, _ in results}
    assert len(keys) == 1
    [key] = keys
    assert len(key) >= 50
    assert (var_dir / "secret_key").read_text() == key
    assert stat.S_IMODE((var_dir / "secret_key").stat().st_mode) == 0o600
    assert sorted(os.listdir(var_dir)) == ["broker", "secret_key"]  # no temporary file left behind


def test_the_key_is_kept(tmp_path):
    first = secret_key_file(tmp_path / "var" / "secret_key")

    assert secret_key_file(tmp_path / "var" / "secret_key") == first


def test_an_empty_key_file_fails_loudly(tmp_path):
    (tmp_path / "secret_key").write_text("")

    with pytest.raises(ImproperEnvironment, match="is empty"):
        secret_key_file(tmp_path / "secret_key")
