"""RQ workers run RQBackend's jobs: in this process, and as `manage.py rqworker` processes."""

# RQ 3 and redis-py leave some parameters unannotated (see django_tasks/backends/rq.py).
# pyright: reportUnknownMemberType=false

import contextlib
import os
import signal
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from pytest_django import Settings
from redis import Redis
from rq.executions import Execution
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer
from rq.utils import utcformat

from django_tasks import TaskResultStatus
from django_tasks.backends.rq import (
    DEFAULT_WORKER_TIMEOUT,
    Heartbeats,
    RQBackend,
    TaskFailed,
    reap_lost_jobs,
    requeue_if_stranded,
    run_job,
)

from . import rq_tasks
from .conftest import SentSignal
from .database.support import wait_for
from .rq_support import RQWorkerProcess, redis, rq_backend, run_rqworker, run_simple_worker

__all__ = ["redis"]  # The fixture, imported for the tests of this module.

# --- in this process --------------------------------------------------------------


def test_a_worker_runs_the_task_and_its_result_comes_back(redis: Redis) -> None:
    result = rq_tasks.add.enqueue(2, 3)

    run_simple_worker()
    result.refresh()

    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 5
    assert result.started_at is not None and result.finished_at is not None
    assert result.started_at <= result.finished_at
    assert result.attempts == 1 and result.errors == []


def test_a_task_that_raises_is_failed_with_its_traceback(redis: Redis) -> None:
    result = rq_tasks.fail.enqueue("out of stock")

    run_simple_worker()
    result.refresh()

    assert result.status == TaskResultStatus.FAILED
    [error] = result.errors
    assert error.exception_class is ValueError
    assert error.traceback.rstrip().endswith("ValueError: out of stock")
    assert "in fail\n    raise ValueError(message)" in error.traceback
    with pytest.raises(ValueError, match="failed"):
        result.return_value  # noqa: B018


def test_a_failed_task_is_a_failed_rq_job(redis: Redis) -> None:
    result = rq_tasks.fail.enqueue("out of stock")

    run_simple_worker()

    job = Job.fetch(result.id, connection=redis, serializer=JSONSerializer)
    assert job.get_status() == JobStatus.FAILED
    latest = job.latest_result()
    assert latest is not None and TaskFailed.__name__ in (latest.exc_string or "")


def test_a_context_task_sees_its_own_result(redis: Redis) -> None:
    result = rq_tasks.attempt_info.enqueue()

    run_simple_worker()
    result.refresh()

    assert result.return_value == {"id": result.id, "attempt": 1, "worker_ids": result.worker_ids}


def test_an_async_task_runs(redis: Redis) -> None:
    result = rq_tasks.async_add.enqueue(20, 22)

    run_simple_worker()
    result.refresh()

    assert result.return_value == 42


def test_a_queue_on_another_redis_is_run_by_its_own_worker(redis: Redis) -> None:
    result = rq_tasks.send.enqueue("a@example.com")

    run_simple_worker("emails")
    result.refresh()

    assert result.return_value == "sent to a@example.com"


def test_the_worker_sends_task_started_and_task_finished(
    redis: Redis, signals_sent: list[SentSignal]
) -> None:
    result = rq_tasks.add.enqueue(2, 3)

    run_simple_worker()

    assert [(sent.name, sent.sender, sent.status) for sent in signals_sent] == [
        ("enqueued", RQBackend, TaskResultStatus.READY),
        ("started", RQBackend, TaskResultStatus.RUNNING),
        ("finished", RQBackend, TaskResultStatus.SUCCESSFUL),
    ]
    assert signals_sent[1].task_result.id == result.id


def test_a_list_return_value_comes_back_as_a_list(redis: Redis) -> None:
    result = rq_tasks.echo.enqueue([1, 2])
    redis_job = Job.fetch(result.id, connection=redis, serializer=JSONSerializer)
    assert redis_job.get_status() == JobStatus.QUEUED

    run_simple_worker()
    result.refresh()

    # A list comes back as a list: the JSON boundary is the same on both sides.
    assert result.return_value == [1, 2]


# --- manage.py rqworker processes --------------------------------------------------


@pytest.mark.parametrize("worker_class", ["rq.Worker", "rq.SimpleWorker"])
def test_rqworker_runs_tasks_with_no_job_class(redis: Redis, worker_class: str) -> None:
    added = rq_tasks.add.enqueue(2, 3)
    failed = rq_tasks.fail.enqueue("no")

    run_rqworker("--serializer", "json", "--worker-class", worker_class, "default")
    added.refresh()
    failed.refresh()

    assert added.return_value == 5
    assert failed.status == TaskResultStatus.FAILED
    assert failed.errors[0].exception_class_path == "builtins.ValueError"


def test_a_worker_without_the_json_serializer_fails_the_job_saying_how_to_start_it(
    redis: Redis,
) -> None:
    result = rq_tasks.add.enqueue(2, 3)

    output = run_rqworker("--worker-class", "rq.SimpleWorker", "default")
    result.refresh()

    assert "DeserializationError" in output
    assert result.status == TaskResultStatus.FAILED
    assert "rqworker --serializer json" in result.errors[0].traceback
    assert result.errors[0].exception_class_path == "rq.exceptions.DeserializationError"


def test_a_scheduler_runs_a_deferred_task_once_due(redis: Redis) -> None:
    result = rq_tasks.add.using(run_after=timezone.now() + timedelta(seconds=1)).enqueue(1, 1)
    worker = RQWorkerProcess("--serializer", "json", "--with-scheduler", "default")
    try:
        wait_for(lambda: rq_tasks.add.get_result(result.id).is_finished, "the deferred task")
    finally:
        worker.kill()

    result.refresh()
    assert result.return_value == 2
    assert result.started_at is not None and result.task.run_after is not None
    assert result.started_at >= result.task.run_after


def test_a_job_timeout_fails_the_task_with_rqs_timeout(
    redis: Redis, tmp_path: Path, settings: Settings
) -> None:
    settings.TASKS = {
        "rq": {**settings.TASKS["rq"], "OPTIONS": {"JOB_TIMEOUT": 1}},
    }
    result = rq_tasks.write_pid_then_sleep.enqueue(str(tmp_path / "pid"), 30)

    run_rqworker("--serializer", "json", "default")
    result.refresh()

    assert result.status == TaskResultStatus.FAILED
    assert result.errors[0].exception_class_path == "rq.timeouts.JobTimeoutException"


def wait_until_running(path: Path) -> int:
    wait_for(path.exists, "the task to start")
    wait_for(lambda: path.read_text().strip(), "the task's pid")
    return int(path.read_text())


def test_a_killed_work_horse_fails_the_task_at_once(redis: Redis, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    result = rq_tasks.write_pid_then_sleep.enqueue(str(pid_file), 60)
    worker = RQWorkerProcess("--serializer", "json", "--burst", "default")
    try:
        os.kill(wait_until_running(pid_file), signal.SIGKILL)
        worker.wait()
    finally:
        worker.kill()

    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert result.errors[0].exception_class_path == "django_tasks.exceptions.WorkerLost"
    assert "Work-horse terminated unexpectedly" in result.errors[0].traceback


@pytest.mark.parametrize("worker_class", ["rq.Worker", "rq.SimpleWorker"])
def test_the_task_of_a_killed_worker_fails_within_its_worker_timeout(
    redis: Redis, tmp_path: Path, worker_class: str
) -> None:
    options = {"WORKER_TIMEOUT": 2}
    pid_file = tmp_path / "pid"
    result = rq_tasks.write_pid_then_sleep.enqueue(str(pid_file), 60)
    worker = RQWorkerProcess(
        "--serializer", "json", "--worker-class", worker_class, "default", options=options
    )
    try:
        task_pid = wait_until_running(pid_file)
        assert rq_tasks.write_pid_then_sleep.get_result(result.id).status == "RUNNING"
        # The worker, then its work-horse (in a session of its own): the machine is gone.
        os.killpg(worker.process.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(task_pid, signal.SIGKILL)
    finally:
        worker.kill()
    killed_at = time.monotonic()

    # Nothing reads the result meanwhile: the next job a worker starts finds the lost one.
    time.sleep(2.5)
    later = rq_tasks.add.enqueue(1, 1)
    run_rqworker("--serializer", "json", "default", options=options)

    job = Job.fetch(result.id, connection=redis, serializer=JSONSerializer)
    assert job.get_status() == JobStatus.FAILED
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert result.errors[0].exception_class_path == "django_tasks.exceptions.WorkerLost"
    assert "WORKER_TIMEOUT" in result.errors[0].traceback
    assert time.monotonic() - killed_at < 30
    later.refresh()
    assert later.return_value == 2


# --- lost workers, in this process -------------------------------------------------


def started_by_a_gone_worker(redis: Redis, result_id: str, seconds_ago: float) -> Job:
    """Mark a queued job as started by worker "gone" `seconds_ago`, as RQ would."""
    job = Job.fetch(result_id, connection=redis, serializer=JSONSerializer)
    with redis.pipeline() as pipeline:
        pipeline.lrem(f"rq:queue:{job.origin}", 0, job.id)  # A worker took it off the queue.
        Execution.create(job, 600, pipeline=pipeline, worker_name="gone")
        job.set_status(JobStatus.STARTED, pipeline=pipeline)
        pipeline.execute()
    started = timezone.now() - timedelta(seconds=seconds_ago)
    redis.hset(job.key, mapping={"started_at": utcformat(started), "worker_name": "gone"})
    return job


def test_reading_a_job_whose_worker_died_fails_it(redis: Redis) -> None:
    result = rq_tasks.add.enqueue(1, 2)
    started_by_a_gone_worker(redis, result.id, seconds_ago=DEFAULT_WORKER_TIMEOUT + 1)

    result.refresh()

    assert result.status == TaskResultStatus.FAILED
    assert result.worker_ids == ["gone"]
    assert "Worker gone stopped renewing the heartbeat" in result.errors[0].traceback
    job = Job.fetch(result.id, connection=redis, serializer=JSONSerializer)
    assert job.get_status() == JobStatus.FAILED


def test_a_running_job_younger_than_its_lease_is_not_lost(redis: Redis) -> None:
    result = rq_tasks.add.enqueue(1, 2)
    started_by_a_gone_worker(redis, result.id, seconds_ago=1)

    assert rq_tasks.add.get_result(result.id).status == TaskResultStatus.RUNNING


def test_a_running_job_with_a_fresh_heartbeat_is_not_lost(redis: Redis) -> None:
    result = rq_tasks.add.enqueue(1, 2)
    started_by_a_gone_worker(redis, result.id, seconds_ago=DEFAULT_WORKER_TIMEOUT + 1)
    redis.set(f"django_tasks:rq:alive:{result.id}", 1, ex=60)

    assert rq_tasks.add.get_result(result.id).status == TaskResultStatus.RUNNING


def test_reap_lost_jobs_fails_the_queues_lost_jobs_only(redis: Redis) -> None:
    lost = rq_tasks.add.enqueue(1, 2)
    alive = rq_tasks.add.enqueue(3, 4)
    started_by_a_gone_worker(redis, lost.id, seconds_ago=DEFAULT_WORKER_TIMEOUT + 1)
    started_by_a_gone_worker(redis, alive.id, seconds_ago=DEFAULT_WORKER_TIMEOUT + 1)
    redis.set(f"django_tasks:rq:alive:{alive.id}", 1, ex=60)

    assert reap_lost_jobs(rq_backend().queue("default"), rq_backend()) == [lost.id]
    statuses = [
        Job.fetch(r.id, connection=redis, serializer=JSONSerializer).get_status()
        for r in (lost, alive)
    ]
    assert statuses == [JobStatus.FAILED, JobStatus.STARTED]


def taken_by_a_worker_that_died(redis: Redis, result_id: str, seconds_ago: float | None) -> None:
    """
    Move a queued job into RQ's intermediate queue, as a worker that died right after
    taking it off the queue leaves it; seen there first `seconds_ago` (None: not yet).
    """
    queue = rq_backend().queue("default")
    assert (
        redis.lmove(queue.key, queue.intermediate_queue_key, "LEFT", "RIGHT") == result_id.encode()
    )
    if seconds_ago is not None:
        first_seen = time.time() - seconds_ago
        redis.set(f"{queue.intermediate_queue_key}:first_seen:{result_id}", first_seen)


def test_a_job_stranded_by_a_worker_that_died_before_starting_it_runs_again(
    redis: Redis,
) -> None:
    result = rq_tasks.add.enqueue(1, 2)
    taken_by_a_worker_that_died(redis, result.id, seconds_ago=DEFAULT_WORKER_TIMEOUT + 1)

    assert reap_lost_jobs(rq_backend().queue("default"), rq_backend()) == [result.id]
    run_simple_worker()

    result.refresh()
    assert result.return_value == 3
    assert result.attempts == 1  # It never started before: no attempt was lost.
    assert redis.llen(rq_backend().queue("default").intermediate_queue_key) == 0


def test_reading_a_stranded_jobs_result_puts_it_back_on_its_queue(redis: Redis) -> None:
    result = rq_tasks.add.enqueue(1, 2)
    taken_by_a_worker_that_died(redis, result.id, seconds_ago=DEFAULT_WORKER_TIMEOUT + 1)

    result.refresh()

    assert result.status == TaskResultStatus.READY
    assert rq_backend().queue("default").job_ids == [result.id]


def test_a_job_just_taken_off_its_queue_is_not_stranded(redis: Redis) -> None:
    result = rq_tasks.add.enqueue(1, 2)
    taken_by_a_worker_that_died(redis, result.id, seconds_ago=None)
    queue = rq_backend().queue("default")

    assert reap_lost_jobs(queue, rq_backend()) == []  # First seen now.
    assert reap_lost_jobs(queue, rq_backend()) == []  # Not for WORKER_TIMEOUT yet.
    assert queue.job_ids == []
    assert redis.lrange(queue.intermediate_queue_key, 0, -1) == [result.id.encode()]


def test_a_started_job_in_the_intermediate_queue_is_not_requeued(redis: Redis) -> None:
    result = rq_tasks.add.enqueue(1, 2)
    queue = rq_backend().queue("default")
    taken_by_a_worker_that_died(redis, result.id, seconds_ago=DEFAULT_WORKER_TIMEOUT + 1)
    job = Job.fetch(result.id, connection=redis, serializer=JSONSerializer)
    with redis.pipeline() as pipeline:  # Its worker got as far as starting it.
        Execution.create(job, 600, pipeline=pipeline, worker_name="alive")
        pipeline.execute()

    assert requeue_if_stranded(queue, result.id, rq_backend()) is False
    assert queue.job_ids == []


def test_heartbeats_keep_a_running_jobs_alive_key(redis: Redis) -> None:
    heartbeats = Heartbeats()
    heartbeats.start("job-1", redis, lease=0.4)
    try:
        wait_for(lambda: redis.exists("django_tasks:rq:alive:job-1"), "a heartbeat")
        assert 0 < redis.pttl("django_tasks:rq:alive:job-1") <= 400
    finally:
        heartbeats.stop("job-1")


def test_run_job_outside_a_worker_is_refused() -> None:
    with pytest.raises(RuntimeError, match="inside an RQ worker"):
        run_job({})
