"""django-tasks-db 0.12 (its DatabaseBackend and db_worker) runs our tasks."""

import subprocess

import pytest
from django.db import connection
from django_tasks_db import DatabaseBackend

from django_tasks import TaskResultStatus, task_backends

from . import tasks
from .support import manage

pytestmark = pytest.mark.django_db(transaction=True)


def run_their_worker() -> subprocess.CompletedProcess[str]:
    """`manage.py db_worker` of django-tasks-db, until no task is ready."""
    worker = manage(
        "db_worker",
        "--batch",
        "--no-startup-delay",
        "--queue-name",
        "*",
        sqlite_name=connection.settings_dict["NAME"],
    )
    assert worker.returncode == 0, worker.stdout + worker.stderr
    return worker


def test_the_default_backend_is_theirs() -> None:
    assert isinstance(task_backends["default"], DatabaseBackend)


def test_their_worker_runs_our_task_and_the_result_comes_back() -> None:
    result = tasks.add.enqueue(2, 3)
    assert result.status == TaskResultStatus.READY

    run_their_worker()
    result.refresh()

    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 5
    assert len(result.worker_ids) == 1


def test_a_failure_comes_back_with_its_exception_and_traceback() -> None:
    result = tasks.refuse.enqueue("no")

    run_their_worker()
    fetched = tasks.refuse.get_result(result.id)

    assert fetched.status == TaskResultStatus.FAILED
    assert fetched.errors[0].exception_class is tasks.Refused
    assert "Refused: no" in fetched.errors[0].traceback


def test_a_context_task_gets_its_context_from_their_worker() -> None:
    result = tasks.describe.enqueue("first")

    run_their_worker()
    result.refresh()

    assert result.return_value == {"label": "first", "attempt": 1}


def test_their_worker_logs_each_task_through_our_signals() -> None:
    result = tasks.add.enqueue(1, 1)

    worker = run_their_worker()

    assert f"Task id={result.id} path=third_party_tests.tasks.add state=SUCCESSFUL" in (
        worker.stdout + worker.stderr
    )
