"""Retries and timeouts on RQ: RQ workers retry a failed attempt as the task's backoff says."""

# RQ 3 and redis-py leave some parameters unannotated (see django_tasks/backends/rq.py).
# pyright: reportUnknownMemberType=false

import math

import pytest
from redis import Redis
from rq.job import Job, JobStatus
from rq.registry import ScheduledJobRegistry
from rq.serializers import JSONSerializer

from django_tasks import TaskResultStatus
from django_tasks.backends.rq import DEFAULT_WORKER_TIMEOUT, RUNNER_PATH
from django_tasks.exceptions import TaskTimeout, WorkerLost

from . import retry_tasks
from .conftest import SentSignal
from .rq_support import redis, rq_backend, run_rqworker, run_simple_worker
from .test_rq_worker import started_by_a_gone_worker

__all__ = ["redis"]  # The fixture, imported for the tests of this module.


@pytest.fixture(autouse=True)
def fresh_calls() -> None:
    retry_tasks.calls.clear()


def job_of(connection: Redis, result_id: str) -> Job:
    return Job.fetch(result_id, connection=connection, serializer=JSONSerializer)


def test_arguments_that_no_longer_fit_fail_the_job_at_once_without_a_retry(
    redis: Redis,
) -> None:
    # As if flaky(label, failures) had lost a parameter since the job was enqueued.
    envelope: dict[str, object] = {
        "task": "tests.retry_tasks.flaky",
        "backend": "rq",
        "args": ["a", 0, "removed since"],
        "kwargs": {},
    }
    job = rq_backend().queue("default").enqueue(RUNNER_PATH, envelope)

    run_simple_worker()

    assert retry_tasks.calls["a"] == 0
    assert job_of(redis, job.id).get_status() == JobStatus.FAILED
    assert ScheduledJobRegistry("default", connection=redis).get_job_ids() == []
    result = rq_backend().get_result(job.id)
    assert result.status == TaskResultStatus.FAILED
    [error] = result.errors
    assert error.exception_class_path == "django_tasks.exceptions.InvalidTask"
    assert "no longer fit tests.retry_tasks.flaky(label: str, failures: int)" in error.traceback


def test_a_failed_attempt_is_retried_until_one_succeeds(redis: Redis) -> None:
    result = retry_tasks.flaky.using(backend="rq").enqueue("a", failures=2)

    run_simple_worker()
    result.refresh()

    assert result.return_value == "a: done on call 3"
    assert result.attempts == 3
    assert len(result.worker_ids) == 3
    assert [error.traceback.splitlines()[-1] for error in result.errors] == [
        "ConnectionError: a: failure 1",
        "ConnectionError: a: failure 2",
    ]
    assert result.started_at is not None and result.last_attempted_at is not None
    assert result.started_at < result.last_attempted_at


def test_signals_are_sent_for_each_attempt(redis: Redis, signals_sent: list[SentSignal]) -> None:
    retry_tasks.flaky.using(backend="rq").enqueue("c", failures=1)

    run_simple_worker()

    assert [(sent.name, sent.status) for sent in signals_sent] == retry_tasks.SIGNALS_OF_ONE_RETRY


def test_the_last_failure_is_final_and_a_failed_rq_job(redis: Redis) -> None:
    result = retry_tasks.flaky.using(backend="rq").enqueue("b", failures=5)

    run_simple_worker()
    result.refresh()

    assert result.status == TaskResultStatus.FAILED
    assert (result.attempts, len(result.errors)) == (3, 3)
    assert job_of(redis, result.id).get_status() == JobStatus.FAILED


def test_a_retry_with_a_delay_is_a_scheduled_rq_job(redis: Redis) -> None:
    result = retry_tasks.fails_then_waits.using(backend="rq").enqueue("c")

    run_simple_worker()
    result.refresh()

    assert result.status == TaskResultStatus.READY
    assert (result.attempts, len(result.errors)) == (1, 1)
    registry = ScheduledJobRegistry(queue=rq_backend().queue("default"))
    assert registry.get_job_ids() == [result.id]


def test_a_task_is_stopped_at_its_timeout_by_rqs_job_timeout(redis: Redis) -> None:
    result = retry_tasks.spins.using(backend="rq").enqueue(30)
    assert job_of(redis, result.id).timeout == math.ceil(0.3)  # RQ counts whole seconds.

    run_simple_worker()
    result.refresh()

    assert result.status == TaskResultStatus.FAILED
    assert result.errors[0].exception_class is TaskTimeout


def test_a_lost_attempt_counts_and_is_retried_while_attempts_are_left(redis: Redis) -> None:
    result = retry_tasks.flaky.using(backend="rq").enqueue("d", failures=0)
    started_by_a_gone_worker(redis, result.id, seconds_ago=DEFAULT_WORKER_TIMEOUT + 1)

    result.refresh()

    assert result.status == TaskResultStatus.READY
    assert [error.exception_class for error in result.errors] == [WorkerLost]
    assert result.worker_ids == ["gone"]
    run_simple_worker()
    result.refresh()
    assert result.return_value == "d: done on call 1"
    assert result.attempts == 2


def test_a_lost_task_retried_without_delay_goes_back_to_the_front_of_its_queue(
    redis: Redis,
) -> None:
    lost = retry_tasks.flaky.using(backend="rq").enqueue("e", failures=0)  # constant(0)
    waiting = retry_tasks.flaky.using(backend="rq").enqueue("f", failures=0)
    started_by_a_gone_worker(redis, lost.id, seconds_ago=DEFAULT_WORKER_TIMEOUT + 1)

    lost.refresh()

    assert rq_backend().queue("default").job_ids == [lost.id, waiting.id]


def test_a_forked_work_horse_stops_its_task_at_the_timeout(redis: Redis) -> None:
    result = retry_tasks.spins.using(backend="rq").enqueue(30)

    run_rqworker("--serializer", "json", "default")
    result.refresh()

    assert result.status == TaskResultStatus.FAILED
    assert result.errors[0].exception_class is TaskTimeout


def test_rq_stops_a_task_blocked_in_c_at_its_timeout(redis: Redis) -> None:
    # Ten minutes in one call into C: RQ's signal interrupts it.
    result = retry_tasks.blocks_in_c.using(backend="rq").enqueue(600)

    run_rqworker("--serializer", "json", "default")
    result.refresh()

    assert result.status == TaskResultStatus.FAILED
    assert result.errors[-1].exception_class is TaskTimeout
