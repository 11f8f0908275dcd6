"""Helpers for the database backend's tests: in-process workers and worker subprocesses."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from django_tasks import TaskResult, TaskResultStatus, task_backends
from django_tasks.backends.database import DatabaseBackend
from django_tasks.backends.database.models import DBTaskResult
from django_tasks.backends.database.records import Claimant, Claimed, StaleTask, Unrunnable
from django_tasks.backends.database.worker import Worker

ROOT = Path(__file__).resolve().parents[2]

# How long a test waits for a worker subprocess before failing (not a speed claim).
PATIENCE = 60.0


def run_worker(**options: Any) -> Worker:
    """Run a worker of the "database" backend in this thread until the queue is empty."""
    options = {"backend_name": "database", "batch": True, "startup_delay": False, **options}
    worker = Worker(**options)
    worker.run()
    return worker


def row_of(result: TaskResult[Any]) -> DBTaskResult:
    return DBTaskResult.objects.get(pk=result.id)


def make_running(result: TaskResult[Any], *, worker_id: str, lease_expires_in: timedelta) -> None:
    """Put a task in the state a worker leaves it in while running it."""
    now = timezone.now()
    DBTaskResult.objects.filter(pk=result.id).update(
        status=TaskResultStatus.RUNNING,
        claimed_by=worker_id,
        worker_ids=[worker_id],
        started_at=now,
        last_attempted_at=now,
        lease_expires_at=now + lease_expires_in,
    )


def reclaim_stale() -> list[StaleTask]:
    """What a worker of the "database" backend does when it looks for lost tasks."""
    backend = task_backends["database"]
    assert isinstance(backend, DatabaseBackend)
    return backend.reclaim_lost_tasks()


def store_raw_json(result: TaskResult[Any], column: str, text: str) -> None:
    """
    Write `text` into a JSON column of the result's row as another program might: past
    Django, and past the database's own JSON checks where it has them.
    """
    table = connection.ops.quote_name(DBTaskResult._meta.db_table)
    value = "CAST(%s AS jsonb)" if connection.vendor == "postgresql" else "%s"
    checks_off, checks_on = {
        "sqlite": ("PRAGMA ignore_check_constraints = ON", "PRAGMA ignore_check_constraints = OFF"),
        "mysql": (
            "SET SESSION check_constraint_checks = 0",
            "SET SESSION check_constraint_checks = 1",
        ),
    }.get(connection.vendor, ("", ""))
    pk = DBTaskResult._meta.pk
    assert pk is not None
    with connection.cursor() as cursor:
        if checks_off:
            cursor.execute(checks_off)
        try:
            cursor.execute(
                f"UPDATE {table} SET {column} = {value} WHERE id = %s",
                [text, pk.get_db_prep_value(uuid.UUID(result.id), connection)],
            )
        finally:
            if checks_on:
                cursor.execute(checks_on)


def wait_for(condition: Callable[[], object], what: str, timeout: float = PATIENCE) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"Gave up after {timeout:.0f}s waiting for {what}.")
        time.sleep(0.02)


class WorkerProcess:
    """`manage.py db_worker` in a subprocess, on this test run's database."""

    def __init__(
        self,
        *args: str,
        options: dict[str, Any] | None = None,
        extra_apps: Sequence[str] = (),
    ) -> None:
        env = {
            **os.environ,
            "DJANGO_TASKS_EXTRA_APPS": json.dumps(list(extra_apps)),
            "PYTHONPATH": str(ROOT),
            "DJANGO_SETTINGS_MODULE": settings.SETTINGS_MODULE,
            # The test database, not the NAME in the settings.
            "DJANGO_TASKS_DB_NAME": str(connection.settings_dict["NAME"]),
            "DJANGO_TASKS_SQLITE_NAME": str(connection.settings_dict["NAME"]),
            "DJANGO_TASKS_DATABASE_OPTIONS": json.dumps(options or {}),
        }
        command = [sys.executable, "-m", "django", "db_worker", "--backend", "database"]
        # A file, not a pipe: a chatty worker never blocks on a full pipe.
        self._log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed by stop)
        self.process = subprocess.Popen(
            [*command, "--no-startup-delay", "-v", "2", *args],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            text=True,
        )

    @property
    def output(self) -> str:
        self._log.seek(0)
        return self._log.read()

    @property
    def pid(self) -> int:
        return self.process.pid

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.wait()

    def wait(self, timeout: float = PATIENCE) -> int:
        """Wait for the worker to exit; return its exit status."""
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(
                f"The worker did not exit within {timeout:.0f}s:\n{self.output}"
            ) from None

    def stop(self) -> None:
        """Kill the worker if it still runs, and let go of its output."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self._log.close()


def claimed_as_stored(claimed: Claimed | None, claimant: Claimant) -> TaskResult[Any]:
    """The claimed TaskResult, checked against its row and get_result's view of it."""
    assert claimed is not None and not isinstance(claimed, Unrunnable)
    assert result_fields(claimed) == result_fields(
        task_backends[claimant.backend_name].get_result(claimed.id)
    )
    row = DBTaskResult.objects.get(pk=claimed.id)
    assert (row.status, row.claimed_by, row.backend_name) == (
        TaskResultStatus.RUNNING,
        claimant.worker_id,
        claimant.backend_name,
    )
    assert row.last_attempted_at is not None
    assert row.lease_expires_at == row.last_attempted_at + claimant.lease
    return claimed


def result_fields(result: TaskResult[Any]) -> dict[str, object]:
    return {
        "id": result.id,
        "task": result.task.module_path,
        "priority": result.task.priority,
        "queue_name": result.task.queue_name,
        "run_after": result.task.run_after,
        "status": result.status,
        "enqueued_at": result.enqueued_at,
        "started_at": result.started_at,
        "last_attempted_at": result.last_attempted_at,
        "finished_at": result.finished_at,
        "args": result.args,
        "kwargs": result.kwargs,
        "backend": result.backend,
        "errors": result.errors,
        "worker_ids": result.worker_ids,
    }
