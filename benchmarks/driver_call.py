"""Running a benchmark's in-process half (driver.py, rq_driver.py) and reading its answer."""

import json
import subprocess
from pathlib import Path
from typing import Any


def call_driver(
    command: list[str], *, cwd: Path, env: dict[str, str], timeout: float, what: str
) -> dict[str, Any]:
    """Run `command`; its last line of output, as JSON. RuntimeError, with its stderr, if it fails."""
    out = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if out.returncode:
        raise RuntimeError(f"{what} failed:\n{out.stderr}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result
