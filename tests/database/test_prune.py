"""manage.py prune_db_task_results: delete finished results once they are old enough."""

from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from django_tasks import TaskResult
from django_tasks.backends.database.models import DBTaskResult

from .. import db_tasks
from .support import run_worker

pytestmark = pytest.mark.django_db


def finished_days_ago(result: TaskResult[Any], days: int) -> None:
    finished_at = timezone.now() - timedelta(days=days)
    DBTaskResult.objects.filter(pk=result.id).update(finished_at=finished_at)


def succeeded(days_ago: int, queue_name: str = "default") -> TaskResult[Any]:
    result = db_tasks.add.using(queue_name=queue_name).enqueue(1, 2)
    run_worker(queue_names=None)
    finished_days_ago(result, days_ago)
    return result


def failed(days_ago: int) -> TaskResult[Any]:
    result = db_tasks.fail.enqueue("no")
    run_worker(queue_names=None)
    finished_days_ago(result, days_ago)
    return result


def prune(*args: str) -> str:
    out = StringIO()
    call_command("prune_db_task_results", "--backend", "database", *args, stdout=out)
    return out.getvalue().strip()


def remaining() -> set[str]:
    return {str(pk) for pk in DBTaskResult.objects.values_list("pk", flat=True)}


def test_deletes_results_that_finished_before_the_minimum_age() -> None:
    old, recent = succeeded(days_ago=20), succeeded(days_ago=2)

    assert prune("--min-age-days", "14") == "Deleted 1 task result."
    assert remaining() == {recent.id}
    assert old.id not in remaining()


def test_keeps_ready_and_running_tasks_whatever_their_age() -> None:
    waiting = db_tasks.add.enqueue(1, 2)
    DBTaskResult.objects.filter(pk=waiting.id).update(
        enqueued_at=timezone.now() - timedelta(days=100)
    )

    assert prune("--min-age-days", "0") == "Deleted 0 task results."
    assert remaining() == {waiting.id}


def test_failed_results_can_be_kept_longer() -> None:
    old_success, old_failure = succeeded(days_ago=20), failed(days_ago=20)

    prune("--min-age-days", "14", "--failed-min-age-days", "30")

    assert remaining() == {old_failure.id}
    assert old_success.id not in remaining()


def test_failed_results_use_the_minimum_age_by_default() -> None:
    failed(days_ago=20)

    assert prune("--min-age-days", "14") == "Deleted 1 task result."
    assert remaining() == set()


def test_dry_run_counts_and_deletes_nothing() -> None:
    old = succeeded(days_ago=20)

    assert prune("--min-age-days", "14", "--dry-run") == "Would delete 1 task result."
    assert remaining() == {old.id}


def test_prunes_only_the_named_queues() -> None:
    on_default, on_emails = succeeded(20), succeeded(20, queue_name="emails")

    prune("--min-age-days", "1", "--queue-name", "emails")

    assert remaining() == {on_default.id}
    assert on_emails.id not in remaining()


def test_star_prunes_every_queue() -> None:
    succeeded(20)
    succeeded(20, queue_name="emails")

    assert prune("--min-age-days", "1", "--queue-name", "*") == "Deleted 2 task results."


def test_a_negative_age_is_refused_and_nothing_is_deleted() -> None:
    old = succeeded(days_ago=20)

    with pytest.raises(CommandError, match="not a number of days >= 0"):
        prune("--min-age-days", "-1")
    assert remaining() == {old.id}


def test_an_unknown_backend_is_refused() -> None:
    with pytest.raises(CommandError, match="nope"):
        call_command("prune_db_task_results", "--backend", "nope", stdout=StringIO())
