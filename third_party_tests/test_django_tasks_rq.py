"""django-tasks-rq 0.12 (its RQBackend, run by django-rq's rqworker) runs our tasks."""

import subprocess
from collections.abc import Iterator

import django_rq
import pytest
from django_tasks_rq import RQBackend

from django_tasks import TaskResultStatus, task_backends
from tests.services import require

from . import tasks
from .support import manage


@pytest.fixture(autouse=True)
def empty_redis() -> Iterator[None]:
    require("Redis")
    connection = django_rq.get_connection("default")
    connection.flushdb()
    yield
    connection.flushdb()


def run_their_worker() -> subprocess.CompletedProcess[str]:
    """An rqworker with django-tasks-rq's job class, until the queue is empty."""
    worker = manage("rqworker", "default", "--burst", "--job-class", "django_tasks_rq.Job")
    assert worker.returncode == 0, worker.stdout + worker.stderr
    return worker


def test_the_rq_backend_is_theirs() -> None:
    assert isinstance(task_backends["rq"], RQBackend)


def test_their_worker_runs_our_task_and_the_result_comes_back() -> None:
    result = tasks.multiply.enqueue(6, 7)
    assert result.status == TaskResultStatus.READY

    run_their_worker()
    fetched = tasks.multiply.get_result(result.id)

    assert fetched.status == TaskResultStatus.SUCCESSFUL
    assert fetched.return_value == 42


def test_a_failure_comes_back_with_its_exception_and_traceback() -> None:
    result = tasks.refuse_on_rq.enqueue("no")

    run_their_worker()
    fetched = tasks.refuse_on_rq.get_result(result.id)

    assert fetched.status == TaskResultStatus.FAILED
    assert fetched.errors[0].exception_class is tasks.Refused
    assert "Refused: no" in fetched.errors[0].traceback


def test_tuple_arguments_are_lists_on_the_result_they_build() -> None:
    result = tasks.pair.enqueue((1, 2), "x")

    assert result.args == [[1, 2], "x"]


def test_refresh_after_their_worker_ran_gives_the_return_value() -> None:
    result = tasks.pair.enqueue([1, 2], "x")

    run_their_worker()
    result.refresh()

    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == [[1, 2], "x"]
