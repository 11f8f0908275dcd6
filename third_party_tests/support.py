"""Running django-admin commands of this settings module in a worker subprocess."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# How long a test waits for a worker subprocess before failing (not a speed claim).
PATIENCE = 60.0


def manage(*args: str, sqlite_name: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run `django-admin` with these settings in a subprocess, as a deployment would."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "third_party_tests.settings"}
    if sqlite_name is not None:
        env["THIRD_PARTY_SQLITE_NAME"] = sqlite_name
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "django", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=PATIENCE,
        check=False,
    )
