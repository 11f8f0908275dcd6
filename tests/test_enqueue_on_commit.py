"""ENQUEUE_ON_COMMIT: a task enqueued in a transaction is enqueued when it commits."""

from collections.abc import Callable
from typing import cast

import pytest
from django.db import transaction
from pytest_django import Settings

from django_tasks import TaskResultStatus, task_backends
from django_tasks.backends.dummy import DummyBackend

from . import tasks

pytestmark = pytest.mark.django_db(transaction=True)

Configure = Callable[[bool | None], None]


@pytest.fixture
def configure(settings: Settings) -> Configure:
    """Set ENQUEUE_ON_COMMIT on both test backends, or leave it out (None)."""

    def configure(enqueue_on_commit: bool | None) -> None:
        params: dict[str, object] = {"QUEUES": []}
        if enqueue_on_commit is not None:
            params["ENQUEUE_ON_COMMIT"] = enqueue_on_commit
        settings.TASKS = {
            "default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend", **params},
            "dummy": {"BACKEND": "django_tasks.backends.dummy.DummyBackend", **params},
        }

    return configure


def stored() -> list[object]:
    return list(cast(DummyBackend, task_backends["dummy"]).results)


def test_with_it_on_a_task_enqueued_in_a_transaction_runs_when_it_commits(
    configure: Configure,
) -> None:
    configure(True)

    with transaction.atomic():
        result = tasks.add.enqueue(1, 2)
        status_in_transaction = result.status

    assert status_in_transaction == TaskResultStatus.READY
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 3


def test_with_it_on_a_task_enqueued_in_a_transaction_never_runs_if_it_rolls_back(
    configure: Configure,
) -> None:
    configure(True)

    with transaction.atomic():
        result = tasks.add.enqueue(1, 2)
        transaction.set_rollback(True)

    assert result.status == TaskResultStatus.READY
    assert result.enqueued_at is None
    assert result.worker_ids == []


def test_with_it_on_a_result_is_stored_only_when_the_transaction_commits(
    configure: Configure,
) -> None:
    configure(True)

    with transaction.atomic():
        result = tasks.add.using(backend="dummy").enqueue(1, 2)
        stored_in_transaction = stored()

    assert stored_in_transaction == []
    assert stored() == [result]
    assert result.enqueued_at is not None


def test_with_it_on_nothing_is_stored_if_the_transaction_rolls_back(
    configure: Configure,
) -> None:
    configure(True)

    with transaction.atomic():
        tasks.add.using(backend="dummy").enqueue(1, 2)
        transaction.set_rollback(True)

    assert stored() == []


def test_with_it_on_a_task_from_a_rolled_back_savepoint_is_dropped(
    configure: Configure,
) -> None:
    configure(True)

    with transaction.atomic():
        kept = tasks.add.using(backend="dummy").enqueue(1, 2)
        with transaction.atomic():
            tasks.add.using(backend="dummy").enqueue(3, 4)
            transaction.set_rollback(True)

    assert stored() == [kept]


def test_with_it_on_a_task_enqueued_outside_a_transaction_runs_at_once(
    configure: Configure,
) -> None:
    configure(True)

    assert tasks.add.enqueue(1, 2).status == TaskResultStatus.SUCCESSFUL


def test_it_is_on_unless_configured(configure: Configure) -> None:
    configure(None)

    with transaction.atomic():
        result = tasks.add.enqueue(1, 2)
        status_in_transaction = result.status

    assert status_in_transaction == TaskResultStatus.READY
    assert result.status == TaskResultStatus.SUCCESSFUL


def test_with_it_off_a_task_enqueued_in_a_transaction_runs_at_once(
    configure: Configure,
) -> None:
    configure(False)

    with transaction.atomic():
        result = tasks.add.enqueue(1, 2)
        status_in_transaction = result.status
        transaction.set_rollback(True)

    assert status_in_transaction == TaskResultStatus.SUCCESSFUL


def test_with_it_off_a_result_is_stored_even_if_the_transaction_rolls_back(
    configure: Configure,
) -> None:
    configure(False)

    with transaction.atomic():
        result = tasks.add.using(backend="dummy").enqueue(1, 2)
        transaction.set_rollback(True)

    assert stored() == [result]


def test_task_that_enqueues_at_once_overrides_the_setting(configure: Configure) -> None:
    configure(True)

    with transaction.atomic():
        result = tasks.store_at_once.enqueue(1)
        transaction.set_rollback(True)

    assert stored() == [result]


def test_task_that_enqueues_on_commit_overrides_the_setting(configure: Configure) -> None:
    configure(False)

    with transaction.atomic():
        tasks.store_on_commit.enqueue(1)
        transaction.set_rollback(True)

    assert stored() == []


def test_using_keeps_the_tasks_own_choice(configure: Configure) -> None:
    configure(False)

    with transaction.atomic():
        result = tasks.store_on_commit.using(priority=5).enqueue(1)
        stored_in_transaction = stored()

    assert stored_in_transaction == []
    assert stored() == [result]
