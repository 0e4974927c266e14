"""A process that rendered cards exits cleanly: WeasyPrint's Pango objects are released while the
process is still whole, not in the interpreter's final collection (a segmentation fault on exit)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_seed_demo_which_checks_card_fits_exits_without_crashing(tmp_path):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "VAR_DIR": str(tmp_path)}
    for name in ("DATABASE_URL", "REDIS_URL", "MEDIA_ROOT"):
        env.pop(name, None)  # its own SQLite database and broker under tmp_path
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=300)

    done = subprocess.run([*manage, "seed_demo"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)

    assert done.returncode == 0, done.stderr[-2000:]
    assert "approved for the print room" in done.stdout
