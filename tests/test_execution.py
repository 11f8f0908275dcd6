"""The one function every backend's worker runs a task with."""

import sys
import types
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from django_tasks import TaskResult, TaskResultStatus
from django_tasks.exceptions import InvalidTask
from django_tasks.execution import resolve_task, run_task, start_attempt
from django_tasks.signals import task_finished

from . import tasks


@pytest.fixture
def finished_statuses() -> Iterator[list[TaskResultStatus]]:
    statuses: list[TaskResultStatus] = []

    def receive(sender: type[object], task_result: TaskResult[Any], **kwargs: object) -> None:
        statuses.append(task_result.status)

    task_finished.connect(receive)
    yield statuses
    task_finished.disconnect(receive)


def ready(result: TaskResult[Any]) -> TaskResult[Any]:
    assert result.status == TaskResultStatus.READY
    return result


def test_start_attempt_marks_the_result_running_for_the_worker() -> None:
    result = ready(tasks.add.using(backend="dummy").enqueue(1, 2))
    now = datetime(2030, 1, 1, tzinfo=UTC)

    start_attempt(result, "worker-1", now)

    assert result.status == TaskResultStatus.RUNNING
    assert result.started_at == now
    assert result.last_attempted_at == now
    assert result.worker_ids == ["worker-1"]


def test_run_task_records_success_with_the_return_value_as_json_gives_it() -> None:
    result = ready(tasks.returns_tuple.using(backend="dummy").enqueue())
    start_attempt(result, "worker-1")

    run_task(result)

    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == [1, 2]
    assert result.finished_at is not None


def test_run_task_records_failure_with_the_traceback() -> None:
    result = ready(tasks.fail.using(backend="dummy").enqueue("boom"))
    start_attempt(result, "worker-1")

    run_task(result)

    assert result.status == TaskResultStatus.FAILED
    assert result.errors[0].exception_class is tasks.TaskFailure


def test_run_task_saves_the_outcome_before_announcing_it(
    finished_statuses: list[TaskResultStatus],
) -> None:
    result = ready(tasks.add.using(backend="dummy").enqueue(1, 2))
    start_attempt(result, "worker-1")
    saved: list[tuple[TaskResultStatus, int]] = []

    run_task(result, save_outcome=lambda r: saved.append((r.status, len(finished_statuses))))

    assert saved == [(TaskResultStatus.SUCCESSFUL, 0)]
    assert finished_statuses == [TaskResultStatus.SUCCESSFUL]


def test_run_task_saves_a_failure_too() -> None:
    result = ready(tasks.fail.using(backend="dummy").enqueue("boom"))
    start_attempt(result, "worker-1")
    saved: list[TaskResultStatus] = []

    run_task(result, save_outcome=lambda r: saved.append(r.status))

    assert saved == [TaskResultStatus.FAILED]


def test_run_task_saves_an_interruption_as_a_failure_and_reraises_it() -> None:
    result = ready(tasks.interrupt.using(backend="dummy").enqueue())
    start_attempt(result, "worker-1")
    saved: list[TaskResultStatus] = []

    with pytest.raises(KeyboardInterrupt):
        run_task(result, save_outcome=lambda r: saved.append(r.status))

    assert saved == [TaskResultStatus.FAILED]
    assert result.errors[0].exception_class is KeyboardInterrupt


def test_resolve_task_finds_a_declared_task_by_its_path() -> None:
    assert resolve_task("tests.tasks.add") is tasks.add


def test_resolve_task_finds_a_task_declared_in_a_module_loaded_at_start_up() -> None:
    assert resolve_task("tests.db_tasks.add").module_path == "tests.db_tasks.add"


def test_resolve_task_does_not_import_a_task_module_that_was_not_loaded() -> None:
    assert "tests.late_tasks" not in sys.modules

    with pytest.raises(InvalidTask, match="is not a declared task: no loaded module"):
        resolve_task("tests.late_tasks.late")

    assert "tests.late_tasks" not in sys.modules


def test_resolve_task_does_not_import_a_module_outside_the_installed_apps() -> None:
    assert "antigravity" not in sys.modules

    with pytest.raises(InvalidTask, match="never imported"):
        resolve_task("antigravity.fly")

    assert "antigravity" not in sys.modules


def test_resolve_task_runs_no_module_attribute_hook() -> None:
    looked_up: list[str] = []
    module = types.ModuleType("tests.hooked_module")
    vars(module)["__getattr__"] = looked_up.append  # PEP 562: runs for a missing name.
    sys.modules[module.__name__] = module
    try:
        with pytest.raises(InvalidTask, match="has no 'anything'"):
            resolve_task("tests.hooked_module.anything")
    finally:
        del sys.modules[module.__name__]

    assert looked_up == []


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("os.system", "not a task"),
        ("tests.tasks.no_such_task", "has no 'no_such_task'"),
        ("tests.no_such_module.add", "no loaded module is called 'tests.no_such_module'"),
        ("add", "not the dotted path"),
    ],
)
def test_resolve_task_refuses_a_path_that_names_no_task(path: str, message: str) -> None:
    with pytest.raises(InvalidTask, match=message):
        resolve_task(path)


def test_run_task_records_an_interruption_it_is_not_told_to_reraise_and_returns() -> None:
    result = ready(tasks.exit_process.using(backend="dummy").enqueue())
    start_attempt(result, "worker-1")

    run_task(result, reraise=(KeyboardInterrupt,))

    assert result.status == TaskResultStatus.FAILED
    assert result.errors[0].exception_class is SystemExit
