"""The RQ backend's public surface."""

from collections.abc import Iterable
from typing import Any, assert_type

from django.core.checks import CheckMessage
from rq import Queue
from rq.job import Job

from django_tasks import TaskResult
from django_tasks.backends.base import BaseTaskBackend
from django_tasks.backends.rq import (
    DEFAULT_RESULT_TTL,
    RUNNER_PATH,
    RQBackend,
    TaskFailed,
    fail_lost_job,
    reap_lost_jobs,
    run_job,
)
from typing_tests.tasks_fixture import add, fetch_title

backend = RQBackend(alias="rq", params={"QUEUES": ["default"], "OPTIONS": {"RESULT_TTL": 60}})
base: BaseTaskBackend = backend

assert_type(backend.supports_priority, bool)
assert_type(backend.result_ttl, int)
assert_type(backend.failure_ttl, int)
assert_type(backend.job_timeout, int | None)
assert_type(backend.worker_timeout, float)
ttl: int = DEFAULT_RESULT_TTL
runner: str = RUNNER_PATH

# Enqueue keeps the task's result type; a result by id is untyped, as on every backend.
assert_type(backend.enqueue(add, [1, 2], {}), TaskResult[int])
assert_type(backend.enqueue(fetch_title, [], {"url": "u"}), TaskResult[str])
assert_type(backend.get_result("id"), TaskResult[Any])
assert_type(backend.check(), Iterable[CheckMessage])

# The RQ side: queues are RQ's own, and the runner and reaper are plain functions.
queue = backend.queue("default")
assert_type(queue, Queue)
assert_type(backend.queue_names(), list[str])


def on_a_job(job: Job) -> None:
    assert_type(backend.result_from_job(job), TaskResult[Any])
    assert_type(backend.is_lost(job), bool)
    assert_type(run_job({"task": "app.tasks.add"}), object)
    assert_type(reap_lost_jobs(queue, backend), list[str])
    assert_type(fail_lost_job(job, backend), None)


failure: Exception = TaskFailed("traceback")


async def use_async() -> None:
    assert_type(await backend.aenqueue(add, [1, 2], {}), TaskResult[int])
    assert_type(await backend.aget_result("id"), TaskResult[Any])
