"""Helpers for the RQ backend's tests: the test Redis, in-process and subprocess workers."""

# RQ 3 and redis-py leave some parameters unannotated (see django_tasks/backends/rq.py).
# pyright: reportUnknownMemberType=false

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from django.conf import settings
from redis import Redis
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from django_tasks import task_backends
from django_tasks.backends.rq import RQBackend

from .services import require

ROOT = Path(__file__).resolve().parent.parent

# How long a test waits for a worker subprocess before failing (not a speed claim).
PATIENCE = 60.0


def rq_backend() -> RQBackend:
    return cast(RQBackend, task_backends["rq"])


@pytest.fixture
def redis() -> Iterator[Redis]:
    """The default queue's Redis database, empty; the "emails" one is emptied too."""
    require("Redis")
    databases = [Redis.from_url(settings.REDIS_URL), Redis.from_url(settings.REDIS_OTHER_URL)]
    for database in databases:
        database.flushdb()
    yield databases[0]
    for database in databases:
        database.flushdb()
        database.close()


def run_simple_worker(*queue_names: str) -> None:
    """Run an RQ SimpleWorker in this process until the queues are empty."""
    queues = [rq_backend().queue(name) for name in queue_names or ("default",)]
    worker = SimpleWorker(queues, connection=queues[0].connection, serializer=JSONSerializer)
    worker.work(burst=True)


class RQWorkerProcess:
    """`manage.py rqworker` (django-rq) in a subprocess, as a user would start it."""

    def __init__(self, *args: str, options: dict[str, Any] | None = None) -> None:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "DJANGO_SETTINGS_MODULE": os.environ["DJANGO_SETTINGS_MODULE"],
            "DJANGO_TASKS_RQ_OPTIONS": json.dumps(options or {}),
        }
        command = [sys.executable, "-m", "django", "rqworker", *args]
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )

    def wait(self, timeout: float = PATIENCE) -> tuple[int, str]:
        output, _ = self.process.communicate(timeout=timeout)
        return self.process.returncode, output

    def kill(self) -> None:
        """SIGKILL the worker and everything it started (a lost machine)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.communicate(timeout=PATIENCE)


def run_rqworker(*args: str, options: dict[str, Any] | None = None) -> str:
    """Run `manage.py rqworker --burst ARGS` to the end; its output."""
    worker = RQWorkerProcess("--burst", *args, options=options)
    try:
        returncode, output = worker.wait()
    finally:
        worker.kill()
    assert returncode == 0, output
    return output
