"""DummyBackend stores what is enqueued and never runs it."""

from datetime import timedelta
from typing import cast

import pytest
from asgiref.sync import async_to_sync
from django.utils import timezone
from pytest_django import Settings

from django_tasks import TaskResultStatus, task_backends
from django_tasks.backends.dummy import DummyBackend
from django_tasks.exceptions import TaskResultDoesNotExist

from . import tasks
from .conftest import SentSignal


@pytest.fixture
def backend() -> DummyBackend:
    return cast(DummyBackend, task_backends["dummy"])


on_dummy = tasks.add.using(backend="dummy")


def test_enqueue_stores_the_result(backend: DummyBackend) -> None:
    result = on_dummy.enqueue(1, 2)

    assert backend.results == [result]


def test_enqueue_stores_a_copy_of_the_result_it_returns(backend: DummyBackend) -> None:
    result = on_dummy.enqueue(1, 2)

    assert backend.results[0] is not result


def test_a_change_to_the_stored_result_is_seen_through_refresh(backend: DummyBackend) -> None:
    result = on_dummy.enqueue(1, 2)
    object.__setattr__(backend.results[0], "status", TaskResultStatus.SUCCESSFUL)
    object.__setattr__(backend.results[0], "_return_value", 3)
    result.refresh()

    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 3


def test_enqueue_never_runs_the_task() -> None:
    result = tasks.fail.using(backend="dummy").enqueue("would fail")

    assert result.status == TaskResultStatus.READY
    assert result.started_at is None
    assert result.finished_at is None
    assert result.errors == []
    assert result.worker_ids == []


def test_enqueue_records_when_it_was_enqueued() -> None:
    before = timezone.now()

    result = on_dummy.enqueue(1, 2)

    assert result.enqueued_at is not None
    assert before <= result.enqueued_at <= timezone.now()


def test_enqueue_stores_the_arguments_as_json_gives_them_back() -> None:
    result = tasks.echo.using(backend="dummy").enqueue((1, 2))

    assert result.args == [[1, 2]]


def test_enqueue_keeps_the_tasks_priority_queue_and_run_after() -> None:
    run_after = timezone.now() + timedelta(days=1)

    result = tasks.send_email.using(run_after=run_after).enqueue("ada@example.com")

    assert result.task.priority == 10
    assert result.task.queue_name == "emails"
    assert result.task.run_after == run_after


def test_enqueue_sends_task_enqueued_from_the_backend_class(
    signals_sent: list[SentSignal],
) -> None:
    result = on_dummy.enqueue(1, 2)

    assert signals_sent == [SentSignal("enqueued", DummyBackend, TaskResultStatus.READY, result)]


def test_aenqueue_stores_the_result(backend: DummyBackend) -> None:
    result = async_to_sync(on_dummy.aenqueue)(1, 2)

    assert backend.results == [result]
    assert result.status == TaskResultStatus.READY


def test_async_task_is_stored_not_run(backend: DummyBackend) -> None:
    result = tasks.async_add.using(backend="dummy").enqueue(1, 2)

    assert backend.results == [result]
    assert result.status == TaskResultStatus.READY


def test_get_result_returns_the_stored_result(backend: DummyBackend) -> None:
    result = on_dummy.enqueue(1, 2)

    assert backend.get_result(result.id) is backend.results[0]


def test_aget_result_returns_the_stored_result(backend: DummyBackend) -> None:
    result = on_dummy.enqueue(1, 2)

    assert async_to_sync(backend.aget_result)(result.id) is backend.results[0]


def test_get_result_of_an_unknown_id_raises_task_result_does_not_exist(
    backend: DummyBackend,
) -> None:
    on_dummy.enqueue(1, 2)

    with pytest.raises(TaskResultDoesNotExist, match="no-such-id"):
        backend.get_result("no-such-id")


def test_aget_result_of_an_unknown_id_raises_task_result_does_not_exist(
    backend: DummyBackend,
) -> None:
    with pytest.raises(TaskResultDoesNotExist):
        async_to_sync(backend.aget_result)("no-such-id")


def test_clear_forgets_every_stored_result(backend: DummyBackend) -> None:
    result = on_dummy.enqueue(1, 2)

    backend.clear()

    assert backend.results == []
    with pytest.raises(TaskResultDoesNotExist):
        backend.get_result(result.id)


def test_each_backend_alias_stores_its_own_results(settings: Settings) -> None:
    settings.TASKS = {
        **settings.TASKS,
        "other": {
            "BACKEND": "django_tasks.backends.dummy.DummyBackend",
            "QUEUES": [],
            "ENQUEUE_ON_COMMIT": False,
        },
    }

    result = tasks.add.using(backend="other").enqueue(1, 2)

    assert cast(DummyBackend, task_backends["other"]).results == [result]
    assert cast(DummyBackend, task_backends["dummy"]).results == []


def test_supports_defer_async_and_priority_but_not_get_result() -> None:
    assert DummyBackend.supports_defer
    assert DummyBackend.supports_async_task
    assert DummyBackend.supports_priority
    assert not DummyBackend.supports_get_result
