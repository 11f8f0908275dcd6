"""RQBackend in this process: enqueue, results, validation and checks, on the real Redis."""

# RQ 3 and redis-py leave some parameters unannotated (see django_tasks/backends/rq.py).
# pyright: reportUnknownMemberType=false

import json
import re
import zlib
from datetime import datetime, timedelta
from typing import Any, cast

import pytest
from django.db import transaction
from django.utils import timezone
from pytest_django import Settings
from redis import Redis
from redis.client import Pipeline
from redis.exceptions import ConnectionError as RedisConnectionError
from rq.job import Job, JobStatus
from rq.registry import ScheduledJobRegistry
from rq.serializers import JSONSerializer

from django_tasks import TaskResultStatus, bulk_enqueue, task_backends
from django_tasks.backends.rq import (
    DEFAULT_FAILURE_TTL,
    DEFAULT_RESULT_TTL,
    RUNNER_PATH,
    RQBackend,
)
from django_tasks.exceptions import InvalidTask, InvalidTaskBackend, TaskResultDoesNotExist

from . import rq_tasks
from .conftest import SentSignal
from .rq_support import redis, rq_backend, run_simple_worker

__all__ = ["redis"]  # The fixture, imported for the tests of this module.

RQ_BACKEND = "django_tasks.backends.rq.RQBackend"


def job_of(connection: Redis, result_id: str) -> Job:
    return Job.fetch(result_id, connection=connection, serializer=JSONSerializer)


def rq_tasks_setting(**entry: Any) -> dict[str, Any]:
    return {"rq": {"BACKEND": RQ_BACKEND, "ENQUEUE_ON_COMMIT": False, **entry}}


def test_enqueue_makes_a_ready_job_on_the_queue_of_the_same_name(redis: Redis) -> None:
    result = rq_tasks.add.enqueue(2, 3)

    job = job_of(redis, result.id)
    assert result.status == TaskResultStatus.READY
    assert result.enqueued_at is not None
    assert job.origin == "default"
    assert job.get_status() == JobStatus.QUEUED
    assert rq_backend().queue("default").job_ids == [result.id]
    assert job.func_name == RUNNER_PATH


def test_the_job_holds_json_only(redis: Redis) -> None:
    result = rq_tasks.echo.enqueue({"nested": [1, "two", None]})

    raw = redis.hget(f"rq:job:{result.id}", "data")
    assert isinstance(raw, bytes)
    data = json.loads(zlib.decompress(raw))
    assert data == [
        RUNNER_PATH,
        None,
        [
            {
                "task": "tests.rq_tasks.echo",
                "backend": "rq",
                "args": [{"nested": [1, "two", None]}],
                "kwargs": {},
            }
        ],
        {},
    ]


def test_results_outlive_rqs_500_second_default(redis: Redis) -> None:
    job = job_of(redis, rq_tasks.add.enqueue(1, 1).id)

    assert (job.result_ttl, job.failure_ttl) == (DEFAULT_RESULT_TTL, DEFAULT_FAILURE_TTL)
    assert DEFAULT_RESULT_TTL == 7 * 24 * 3600


def test_ttls_and_job_timeout_come_from_options(redis: Redis, settings: Settings) -> None:
    settings.TASKS = rq_tasks_setting(
        OPTIONS={"RESULT_TTL": 60, "FAILURE_TTL": timedelta(hours=1), "JOB_TIMEOUT": 5}
    )

    job = job_of(redis, rq_tasks.add.enqueue(1, 1).id)

    assert (job.result_ttl, job.failure_ttl, job.timeout) == (60, 3600, 5)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"RESULT_TLL": 60}, "unknown keys: RESULT_TLL"),
        ({"RESULT_TTL": 0}, "must be a positive number of seconds or a timedelta, not 0"),
        ({"FAILURE_TTL": "a day"}, "must be a positive number of seconds"),
        ({"JOB_TIMEOUT": float("inf")}, "must be a positive number of seconds"),
        ({"WORKER_TIMEOUT": True}, "must be a positive number of seconds"),
    ],
)
def test_bad_options_are_refused(settings: Settings, options: dict[str, Any], message: str) -> None:
    settings.TASKS = rq_tasks_setting(OPTIONS=options)

    with pytest.raises(InvalidTaskBackend, match=message):
        task_backends["rq"]


def test_get_result_of_a_waiting_task(redis: Redis) -> None:
    result = rq_tasks.add.enqueue(2, 3)

    fetched = rq_tasks.add.get_result(result.id)

    assert fetched.status == TaskResultStatus.READY
    assert (fetched.args, fetched.kwargs, fetched.attempts) == ([2, 3], {}, 0)
    assert fetched.enqueued_at == result.enqueued_at
    assert fetched.task == rq_tasks.add


def test_get_result_finds_a_job_on_another_queues_redis(redis: Redis) -> None:
    result = rq_tasks.send.enqueue("a@example.com")
    assert not redis.exists(f"rq:job:{result.id}")  # It lives in the "emails" database.

    assert rq_tasks.send.get_result(result.id).status == TaskResultStatus.READY


def test_get_result_of_an_unknown_id_raises(redis: Redis) -> None:
    with pytest.raises(TaskResultDoesNotExist):
        rq_backend().get_result("no-such-job")


def test_aget_result_reads_the_same_result(redis: Redis) -> None:
    from asgiref.sync import async_to_sync

    result = rq_tasks.add.enqueue(2, 3)

    assert async_to_sync(rq_tasks.add.aget_result)(result.id).id == result.id


def test_aenqueue_makes_a_job(redis: Redis) -> None:
    from asgiref.sync import async_to_sync

    result = async_to_sync(rq_tasks.add.aenqueue)(4, 5)

    assert job_of(redis, result.id).get_status() == JobStatus.QUEUED


def test_run_after_makes_a_scheduled_job(redis: Redis) -> None:
    when = timezone.now() + timedelta(hours=1)

    result = rq_tasks.add.using(run_after=when).enqueue(1, 2)

    registry = ScheduledJobRegistry(queue=rq_backend().queue("default"))
    assert registry.get_job_ids() == [result.id]
    assert abs(registry.get_scheduled_time(result.id) - when) < timedelta(seconds=1)
    assert rq_backend().queue("default").job_ids == []
    fetched = rq_tasks.add.get_result(result.id)
    assert (fetched.status, fetched.task.run_after) == (TaskResultStatus.READY, when)


def test_a_naive_run_after_is_refused(redis: Redis) -> None:
    with pytest.raises(InvalidTask, match="aware datetime"):
        rq_tasks.add.using(run_after=datetime(2030, 1, 1)).enqueue(1, 2)

    assert redis.dbsize() == 0


def test_a_non_json_argument_is_refused_and_nothing_reaches_redis(redis: Redis) -> None:
    with pytest.raises(TypeError, match=re.escape("Task argument args[0] is a builtins.set")):
        rq_tasks.echo.enqueue({1, 2})

    assert redis.dbsize() == 0


def test_an_unknown_queue_is_refused(redis: Redis) -> None:
    with pytest.raises(InvalidTask, match="Queue 'nightly' is not"):
        rq_tasks.add.using(queue_name="nightly")


def test_a_queue_missing_from_rq_queues_is_refused_at_enqueue(
    redis: Redis, settings: Settings
) -> None:
    settings.TASKS = rq_tasks_setting(QUEUES=["default", "reports"])

    with pytest.raises(
        InvalidTaskBackend, match=r"Queue 'reports' .* is not in settings\.RQ_QUEUES"
    ):
        rq_tasks.add.using(queue_name="reports").enqueue(1, 2)

    assert redis.dbsize() == 0


def test_a_priority_is_refused_as_rq_has_none() -> None:
    assert RQBackend.supports_priority is False
    with pytest.raises(InvalidTask, match="does not support setting priority"):
        rq_tasks.add.using(priority=10)


def test_unreachable_redis_raises_an_error_naming_the_connection(settings: Settings) -> None:
    settings.RQ_QUEUES = {"default": {"URL": "redis://127.0.0.1:1/3"}}

    with pytest.raises(RedisConnectionError, match=re.escape("redis://127.0.0.1:1/3")):
        rq_tasks.add.enqueue(1, 2)


def test_task_enqueued_is_sent_once_the_job_is_written(
    redis: Redis, signals_sent: list[SentSignal]
) -> None:
    result = rq_tasks.add.enqueue(1, 2)

    assert [(sent.name, sent.sender, sent.task_result) for sent in signals_sent] == [
        ("enqueued", RQBackend, result)
    ]


@pytest.mark.django_db(transaction=True)
def test_with_enqueue_on_commit_the_job_is_written_when_the_transaction_commits(
    redis: Redis,
) -> None:
    with transaction.atomic():
        result = rq_tasks.add_on_commit.enqueue(1, 2)
        written_in_transaction = redis.exists(f"rq:job:{result.id}")

    assert not written_in_transaction
    assert redis.exists(f"rq:job:{result.id}")


@pytest.mark.django_db(transaction=True)
def test_a_deferred_job_is_not_written_if_the_transaction_rolls_back(redis: Redis) -> None:
    when = timezone.now() + timedelta(hours=1)
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        rq_tasks.add_on_commit.using(run_after=when).enqueue(1, 2)
        raise ZeroDivisionError

    assert redis.dbsize() == 0


def test_bulk_enqueue_writes_the_blocks_jobs_with_one_pipeline_per_redis(
    redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    executed: list[int] = []
    real_execute = Pipeline.execute

    def counting_execute(self: Pipeline, raise_on_error: bool = True) -> list[Any]:
        executed.append(len(cast(list[object], self.command_stack)))
        return real_execute(self, raise_on_error)

    monkeypatch.setattr(Pipeline, "execute", counting_execute)
    with bulk_enqueue():
        results = [rq_tasks.add.enqueue(i, i) for i in range(20)]
        emails = rq_tasks.send.enqueue("a@example.com")
        written_in_block = redis.dbsize()

    assert written_in_block == 0
    assert len(executed) == 2  # One for "default", one for "emails" (another database).
    assert rq_backend().queue("default").job_ids == [result.id for result in results]
    assert rq_tasks.send.get_result(emails.id).status == TaskResultStatus.READY
    assert all(result.enqueued_at is not None for result in results)


def test_bulk_enqueue_writes_nothing_if_the_block_raises(redis: Redis) -> None:
    with pytest.raises(ZeroDivisionError), bulk_enqueue():
        rq_tasks.add.enqueue(1, 2)
        raise ZeroDivisionError

    assert redis.dbsize() == 0


def test_a_job_of_another_program_is_not_taken_for_a_task(redis: Redis) -> None:
    job = rq_backend().queue("default").enqueue("os.system", "echo hello")

    with pytest.raises(InvalidTask, match="not a django-tasks job"):
        rq_backend().get_result(job.id)


@pytest.mark.parametrize(
    ("envelope", "message"),
    [
        ({"task": "tests.rq_tasks.add", "backend": "rq", "args": "1, 2", "kwargs": {}}, "corrupt"),
        ({"task": 3, "backend": "rq", "args": [], "kwargs": {}}, "corrupt"),
        ({"task": "antigravity.fly", "backend": "rq", "args": [], "kwargs": {}}, "installed app"),
        ({"task": "os.getcwd", "backend": "rq", "args": [], "kwargs": {}}, "not a task"),
    ],
)
def test_a_corrupt_job_reads_as_an_invalid_task(
    redis: Redis, envelope: dict[str, object], message: str
) -> None:
    job = rq_backend().queue("default").enqueue(RUNNER_PATH, envelope)

    with pytest.raises(InvalidTask, match=message):
        rq_backend().get_result(job.id)


def test_a_corrupt_job_fails_and_the_worker_goes_on(redis: Redis) -> None:
    corrupt = rq_backend().queue("default").enqueue(RUNNER_PATH, {"task": "antigravity.fly"})
    good = rq_tasks.add.enqueue(2, 2)

    run_simple_worker()

    assert job_of(redis, corrupt.id).get_status() == JobStatus.FAILED
    good.refresh()
    assert good.return_value == 4


def check_ids() -> list[str]:
    return [message.id or "" for message in rq_backend().check()]


def test_the_check_passes_a_good_configuration(redis: Redis) -> None:
    assert check_ids() == []


def test_the_check_reports_a_queue_that_rq_queues_lacks(redis: Redis, settings: Settings) -> None:
    settings.TASKS = rq_tasks_setting(QUEUES=["default", "reports"])

    messages = list(rq_backend().check())

    assert [message.id for message in messages] == ["django_tasks_rq.E001"]
    assert "'reports'" in messages[0].msg


def test_the_check_warns_of_a_redis_that_does_not_answer(settings: Settings) -> None:
    settings.RQ_QUEUES = {"default": {"URL": "redis://127.0.0.1:1/0"}}
    settings.TASKS = rq_tasks_setting(QUEUES=["default"])

    messages = list(rq_backend().check())

    assert [message.id for message in messages] == ["django_tasks_rq.W002"]
    assert "redis://127.0.0.1:1/0" in messages[0].msg


def test_the_check_warns_of_overdue_deferred_tasks(redis: Redis) -> None:
    long_ago = timezone.now() - timedelta(minutes=5)
    rq_tasks.add.using(run_after=long_ago).enqueue(1, 2)

    messages = list(rq_backend().check())

    assert [message.id for message in messages] == ["django_tasks_rq.W003"]
    assert "--with-scheduler" in (messages[0].hint or "")


def test_the_check_warns_without_django_rq_installed(redis: Redis, settings: Settings) -> None:
    settings.INSTALLED_APPS = [app for app in settings.INSTALLED_APPS if app != "django_rq"]

    assert check_ids() == ["django_tasks_rq.W001"]


def test_get_result_with_redis_unreachable_names_the_connection(settings: Settings) -> None:
    settings.RQ_QUEUES = {"default": {"URL": "redis://127.0.0.1:1/3"}}
    settings.TASKS = rq_tasks_setting(QUEUES=["default"])

    with pytest.raises(RedisConnectionError, match=re.escape("redis://127.0.0.1:1/3")):
        rq_backend().get_result("any")


def test_without_use_tz_times_come_back_naive(redis: Redis, settings: Settings) -> None:
    settings.USE_TZ = False
    result = rq_tasks.add.enqueue(1, 2)

    fetched = rq_tasks.add.get_result(result.id)

    assert fetched.enqueued_at is not None and timezone.is_naive(fetched.enqueued_at)
