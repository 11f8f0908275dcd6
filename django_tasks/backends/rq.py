"""
RQBackend: each task becomes an RQ job on Redis, run by plain RQ workers.

Connections come from django-rq's RQ_QUEUES, one RQ queue per task queue. Every job
calls `run_job` (below) with a JSON envelope that names the task, so workers need no
custom job class, and jobs use RQ's JSON serializer, so no user data is pickled:
workers run as `manage.py rqworker --serializer json`.
"""

# RQ 3 and redis-py leave some parameters unannotated (Job.fetch's serializer, a
# pipeline's shard_hint, the items of Job.args), which strict pyright reports at every
# use; the values this module reads from them are checked where they are used.
# pyright: reportUnknownMemberType=false

from __future__ import annotations

import logging
import math
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

from django.apps import apps
from django.conf import settings
from django.core.checks import CheckMessage
from django.core.checks import Error as CheckError
from django.core.checks import Warning as CheckWarning
from django.utils import timezone
from django_rq.connection_utils import get_redis_connection
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from rq import Queue
from rq.exceptions import DeserializationError, NoSuchJobError
from rq.intermediate_queue import IntermediateQueue
from rq.job import Job, JobStatus, get_current_job
from rq.job_lifecycle import record_job_failure
from rq.registry import ScheduledJobRegistry, StartedJobRegistry
from rq.results import Result
from rq.serializers import JSONSerializer
from rq.timeouts import JobTimeoutException
from rq.utils import utcformat, utcparse

from ..backoff import delay_seconds
from ..base import Task, TaskError, TaskResult, TaskResultStatus
from ..durations import seconds_of
from ..exceptions import InvalidTask, InvalidTaskBackend, TaskResultDoesNotExist, WorkerLost
from ..execution import check_arguments_fit, resolve_task, run_task, start_attempt
from ..signals import task_enqueued
from ..utils import get_module_path
from .base import BaseTaskBackend

T = TypeVar("T")

logger = logging.getLogger("django_tasks.backends.rq")

RUNNER_PATH = "django_tasks.backends.rq.run_job"
DEFAULT_RESULT_TTL = 7 * 24 * 3600  # RQ's own default, 500 s, loses results too soon.
DEFAULT_FAILURE_TTL = 7 * 24 * 3600
DEFAULT_WORKER_TIMEOUT = 30.0
WORKER_COMMAND = "python manage.py rqworker --serializer json"

_ATTEMPTS_META_KEY = "django_tasks_attempts"  # The failed attempts, oldest first.
_ALIVE_KEY = "django_tasks:rq:alive:{}"  # Renewed while a job runs; see Heartbeats.
_REAP_KEY = "django_tasks:rq:reap:{}"  # Held by the one process that looks for lost jobs.
# What RQ accepts as a job id (rq.job.JOB_ID_PATTERN); ours are 32 hex digits.
_JOB_ID = re.compile(r"[A-Za-z0-9_-]+")
_EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*)(?::|$)")
_WORKER_LOST_PATH = get_module_path(WorkerLost)

_STATUSES = {
    JobStatus.CREATED: TaskResultStatus.READY,
    JobStatus.QUEUED: TaskResultStatus.READY,
    JobStatus.DEFERRED: TaskResultStatus.READY,
    JobStatus.SCHEDULED: TaskResultStatus.READY,
    JobStatus.RATE_LIMITED: TaskResultStatus.READY,
    JobStatus.READY_TO_ENQUEUE: TaskResultStatus.READY,
    JobStatus.STARTED: TaskResultStatus.RUNNING,
    JobStatus.FINISHED: TaskResultStatus.SUCCESSFUL,
    JobStatus.FAILED: TaskResultStatus.FAILED,
    JobStatus.STOPPED: TaskResultStatus.FAILED,
    JobStatus.CANCELED: TaskResultStatus.FAILED,
}


class TaskFailed(Exception):
    """Raised by run_job so that RQ records a failed task as a failed job."""


class RQBackend(BaseTaskBackend):
    """Enqueues tasks as RQ jobs; `manage.py rqworker --serializer json` runs them."""

    supports_defer = True  # As RQ scheduled jobs: run a worker with --with-scheduler.
    supports_async_task = True
    supports_get_result = True
    # RQ has no per-job priority (a worker takes its queues in order, each first in,
    # first out), so a priority would be a promise nothing keeps.
    supports_priority = False
    # As RQ retries: a retry with a delay is a scheduled job (--with-scheduler).
    supports_retries = True
    # As RQ's job timeout, which raises in the work-horse from a signal.
    supports_timeout = True
    timeout_exceptions = (JobTimeoutException,)

    def __init__(self, alias: str, params: Mapping[str, Any]) -> None:
        super().__init__(alias, params)
        options = dict(self.options)
        self.result_ttl = _seconds(
            alias, "RESULT_TTL", options.pop("RESULT_TTL", DEFAULT_RESULT_TTL)
        )
        self.failure_ttl = _seconds(
            alias, "FAILURE_TTL", options.pop("FAILURE_TTL", DEFAULT_FAILURE_TTL)
        )
        job_timeout = options.pop("JOB_TIMEOUT", None)
        # None: the queue's DEFAULT_TIMEOUT in RQ_QUEUES, else RQ's (180 s); -1: no limit.
        self.job_timeout: int | None = (
            job_timeout
            if job_timeout is None or (type(job_timeout) is int and job_timeout == -1)
            else _seconds(alias, "JOB_TIMEOUT", job_timeout)
        )
        # How long a running job may go without a heartbeat before it counts as lost.
        self.worker_timeout = float(
            _seconds(alias, "WORKER_TIMEOUT", options.pop("WORKER_TIMEOUT", DEFAULT_WORKER_TIMEOUT))
        )
        if options:
            raise InvalidTaskBackend(
                f"TASKS[{alias!r}]['OPTIONS'] has unknown keys: {', '.join(sorted(options))}. "
                "RQBackend takes RESULT_TTL, FAILURE_TTL, JOB_TIMEOUT and WORKER_TIMEOUT."
            )
        self._queues: dict[str, Queue] = {}

    # --- enqueue ------------------------------------------------------------------

    def enqueue(
        self, task: Task[..., T], args: Sequence[object], kwargs: Mapping[str, object]
    ) -> TaskResult[T]:
        result = self.new_result(task, args, kwargs)
        self.queue(task.queue_name)  # An unconfigured queue fails now, before any write.
        self.enqueue_result(result)
        return result

    def store_results(self, results: Sequence[TaskResult[Any]]) -> None:
        """Write the results' jobs with one pipeline per Redis server."""
        batches: dict[str, tuple[Queue, list[TaskResult[Any]]]] = {}
        for result in results:
            queue = self.queue(result.task.queue_name)
            server = _describe_connection(queue.connection)
            batches.setdefault(server, (queue, []))[1].append(result)
        for queue, batch in batches.values():
            try:
                jobs = self._write_jobs(queue.connection, batch)
            except RedisConnectionError as e:
                raise RedisConnectionError(
                    f"Task backend {self.alias!r} could not reach Redis for queue "
                    f"{queue.name!r} ({_describe_connection(queue.connection)}): {e}"
                ) from e
            for result, job in zip(batch, jobs, strict=True):
                enqueued_at = job.enqueued_at or job.created_at
                object.__setattr__(result, "enqueued_at", _django_time(enqueued_at))
                task_enqueued.send(type(self), task_result=result)

    def _write_jobs(self, connection: Redis, results: Sequence[TaskResult[Any]]) -> list[Job]:
        jobs: list[Job] = []
        with connection.pipeline() as pipeline:
            for result in results:
                queue = self.queue(result.task.queue_name)
                job = self._job_for(queue, result)
                if result.task.run_after is not None:
                    queue.schedule_job(
                        job, _whole_second_after(result.task.run_after), pipeline=pipeline
                    )
                else:
                    queue.enqueue_job(job, pipeline=pipeline)
                jobs.append(job)
            pipeline.execute()
        return jobs

    def _job_for(self, queue: Queue, result: TaskResult[Any]) -> Job:
        task = result.task
        envelope: dict[str, object] = {
            "task": task.module_path,
            "backend": self.alias,
            "args": result.args,
            "kwargs": result.kwargs,
        }
        if task.run_after is not None:
            envelope["run_after"] = task.run_after.isoformat()
        timeout = self.attempt_policy(task).timeout
        return queue.create_job(
            RUNNER_PATH,
            args=[envelope],
            job_id=result.id,
            timeout=self.job_timeout if timeout is None else math.ceil(timeout),
            result_ttl=self.result_ttl,
            failure_ttl=self.failure_ttl,
            description=f"{task.module_path}(*{result.args!r}, **{result.kwargs!r})"[:1000],
            status=JobStatus.SCHEDULED if task.run_after is not None else JobStatus.QUEUED,
        )

    # --- results ------------------------------------------------------------------

    def get_result(self, result_id: str) -> TaskResult[Any]:
        if not _JOB_ID.fullmatch(str(result_id)):  # RQ would raise ValueError.
            raise TaskResultDoesNotExist(result_id)
        for connection in self._connections():
            try:
                job = Job.fetch(str(result_id), connection=connection, serializer=JSONSerializer)
            except NoSuchJobError:
                continue
            except RedisConnectionError as e:
                raise RedisConnectionError(
                    f"Task backend {self.alias!r} could not reach Redis "
                    f"({_describe_connection(connection)}): {e}"
                ) from e
            return self.result_from_job(job)
        raise TaskResultDoesNotExist(result_id)

    def result_from_job(self, job: Job) -> TaskResult[Any]:
        """The job as a TaskResult; InvalidTask if it is not a well-formed job of ours."""
        envelope = _envelope_of(job)
        if job.get_status(refresh=False) == JobStatus.STARTED and self.is_lost(job):
            fail_lost_job(job, self)
        elif job.get_status(refresh=False) == JobStatus.QUEUED:
            queue = Queue(job.origin, connection=job.connection, serializer=JSONSerializer)
            if job.connection.lpos(queue.intermediate_queue_key, job.id) is not None:
                requeue_if_stranded(queue, job.id, self)
        status = _STATUSES.get(job.get_status(refresh=False), TaskResultStatus.READY)
        return self._result(job, envelope, status, with_current=True)

    def new_attempt(self, job: Job) -> TaskResult[Any]:
        """The READY result that a worker starts an attempt of this job on."""
        return self._result(job, _envelope_of(job), TaskResultStatus.READY, with_current=False)

    def lost_attempt_result(self, job: Job) -> TaskResult[Any]:
        """The result of a job whose worker was lost, as it stood then (that attempt counted)."""
        return self._result(job, _envelope_of(job), TaskResultStatus.RUNNING, with_current=True)

    def _result(
        self,
        job: Job,
        envelope: Mapping[str, Any],
        status: TaskResultStatus,
        *,
        with_current: bool,
    ) -> TaskResult[Any]:
        finished = status in (TaskResultStatus.FAILED, TaskResultStatus.SUCCESSFUL)
        attempts = _recorded_attempts(job)
        # The attempt RQ started last, unless the runner recorded it (a failed one).
        current = job.started_at is not None and (
            not attempts or attempts[-1].started_at != job.started_at
        )
        # An attempt RQ ended itself (its timeout, a killed work-horse): its error is RQ's.
        failed_in_rq = (
            current and with_current and status in (TaskResultStatus.FAILED, TaskResultStatus.READY)
        )
        needs_latest = status == TaskResultStatus.SUCCESSFUL or failed_in_rq
        latest = job.latest_result() if needs_latest else None
        errors = [attempt.error for attempt in attempts]
        worker_ids = [attempt.worker_id for attempt in attempts]
        starts = [attempt.started_at for attempt in attempts if attempt.started_at]
        if current and with_current and job.started_at is not None:
            worker_ids.append(job.worker_name or "")
            starts.append(job.started_at)
            if failed_in_rq:
                errors.append(_rq_error(latest))
        result: TaskResult[Any] = TaskResult(
            task=self._task_of(job, envelope),
            id=job.id,
            status=status,
            enqueued_at=_django_time(job.enqueued_at or job.created_at),
            started_at=_django_time(starts[0]) if starts else None,
            finished_at=_django_time(job.ended_at) if finished and job.ended_at else None,
            last_attempted_at=_django_time(starts[-1]) if starts else None,
            args=envelope["args"],
            kwargs=envelope["kwargs"],
            backend=self.alias,
            errors=errors,
            worker_ids=worker_ids,
        )
        if status == TaskResultStatus.SUCCESSFUL and latest is not None:
            object.__setattr__(result, "_return_value", latest.return_value)
        return result

    def is_lost(self, job: Job) -> bool:
        """Whether a STARTED job's worker stopped renewing its heartbeat."""
        if job.started_at is None:
            return False
        running_for = (timezone.now() - job.started_at).total_seconds()
        if running_for < self.worker_timeout:
            return False
        return not job.connection.exists(_ALIVE_KEY.format(job.id))

    def _task_of(self, job: Job, envelope: Mapping[str, Any]) -> Task[..., Any]:
        try:
            task = resolve_task(envelope["task"])
        except InvalidTask as e:
            raise InvalidTask(f"RQ job {job.id} cannot run: {e}") from e
        run_after = envelope.get("run_after")
        when = datetime.fromisoformat(run_after) if isinstance(run_after, str) else None
        backend: str = envelope["backend"]
        if (task.queue_name, task.backend, task.run_after) == (job.origin, backend, when):
            return task  # The usual case; using() would check the task all over again.
        return task.using(queue_name=job.origin, backend=backend, run_after=when)

    # --- queues and connections ---------------------------------------------------

    def queue(self, queue_name: str) -> Queue:
        """The RQ queue (JSON serializer, RQ_QUEUES connection) for a task queue name."""
        queue = self._queues.get(queue_name)
        if queue is None:
            config = _rq_queues().get(queue_name)
            if config is None:
                raise InvalidTaskBackend(
                    f"Queue {queue_name!r} of task backend {self.alias!r} is not in "
                    "settings.RQ_QUEUES; add it there with its Redis connection."
                )
            queue = Queue(
                queue_name,
                connection=get_redis_connection(config),
                serializer=JSONSerializer,
                default_timeout=config.get("DEFAULT_TIMEOUT"),
            )
            self._queues[queue_name] = queue
        return queue

    def queue_names(self) -> list[str]:
        return sorted(self.queues) if self.queues else sorted(_rq_queues())

    def _connections(self) -> list[Redis]:
        # Queues that share a Redis server are asked once.
        seen: dict[str, Redis] = {}
        for name in self.queue_names():
            if name in _rq_queues():
                connection = self.queue(name).connection
                seen.setdefault(_describe_connection(connection), connection)
        return list(seen.values())

    # --- checks -------------------------------------------------------------------

    def check(self, **kwargs: Any) -> Iterable[CheckMessage]:
        yield from super().check(**kwargs)
        obj = f"TASKS[{self.alias!r}]"
        if not apps.is_installed("django_rq"):
            yield CheckWarning(
                f"{obj} uses RQBackend, but django_rq is not installed, so there is no "
                "`manage.py rqworker`.",
                hint="Add 'django_rq' to INSTALLED_APPS.",
                obj=obj,
                id="django_tasks_rq.W001",
            )
        missing = [name for name in sorted(self.queues) if name not in _rq_queues()]
        for name in missing:
            yield CheckError(
                f"{obj} has the queue {name!r}, which settings.RQ_QUEUES lacks.",
                hint="Add it to RQ_QUEUES with its Redis connection (URL, or HOST/PORT/DB).",
                obj=obj,
                id="django_tasks_rq.E001",
            )
        for name in self.queue_names():
            if name in missing or name not in _rq_queues():
                continue
            queue = self.queue(name)
            try:
                overdue = ScheduledJobRegistry(queue=queue).get_jobs_to_schedule(
                    int(time.time()) - 60, chunk_size=1
                )
            except RedisError as e:
                yield CheckWarning(
                    f"{obj}: Redis for queue {name!r} ({_describe_connection(queue.connection)}) "
                    f"does not answer: {e}",
                    hint="Start Redis, or correct RQ_QUEUES.",
                    obj=obj,
                    id="django_tasks_rq.W002",
                )
                continue
            if overdue:
                yield CheckWarning(
                    f"{obj}: queue {name!r} has deferred tasks more than a minute overdue: "
                    "no RQ scheduler is running for it.",
                    hint=f"Run a worker with the scheduler: {WORKER_COMMAND} --with-scheduler {name}",
                    obj=obj,
                    id="django_tasks_rq.W003",
                )


# --- the job's side: what RQ workers run -----------------------------------------


def run_job(envelope: dict[str, Any]) -> object:
    """
    Run the task an RQ job names (every job of RQBackend calls this). Returns the JSON
    return value, which RQ stores; a failed task raises TaskFailed, so that the job
    fails too, after its error is stored in the job's meta.
    """
    job = get_current_job()
    if job is None:
        raise RuntimeError("run_job runs inside an RQ worker only.")
    backend = _backend_of(job, envelope)
    result = backend.new_attempt(job)
    # Arguments that no longer fit the task fail the job at once, as a corrupt job does:
    # no attempt of the function, no retry.
    check_arguments_fit(result)
    start_attempt(result, job.worker_name or "")
    _heartbeats.start(job.id, job.connection, backend.worker_timeout)
    try:
        run_task(result, save_outcome=_save_attempt(job))
    finally:
        _heartbeats.stop(job.id)
    # After the task, so as not to delay its start. On the job's own connection: a
    # forked work-horse would open a new one for the backend's. One process at a time
    # looks, at most every quarter lease.
    queue = Queue(job.origin, connection=job.connection, serializer=JSONSerializer)
    if _reap_turn.take(queue, backend.worker_timeout / 4):
        reap_lost_jobs(queue, backend)
    if result.status != TaskResultStatus.SUCCESSFUL:  # FAILED, or READY for a retry.
        raise TaskFailed(result.errors[-1].traceback)
    return result.return_value


def _backend_of(job: Job, envelope: Mapping[str, object]) -> RQBackend:
    from .. import task_backends

    alias = envelope.get("backend")
    backend = task_backends[alias] if isinstance(alias, str) else None
    if not isinstance(backend, RQBackend):
        raise InvalidTask(f"RQ job {job.id} names {alias!r}, which is not an RQBackend alias.")
    return backend


def _save_attempt(job: Job) -> Callable[[TaskResult[Any]], None]:
    def save(result: TaskResult[Any]) -> None:
        if result.status == TaskResultStatus.SUCCESSFUL:
            return  # RQ stores the return value.
        _record_attempt(job, result.errors[-1])
        if result.status == TaskResultStatus.READY:  # To be retried, by RQ.
            job.retries_left = 1
            due = result.task.run_after
            delay = (due - timezone.now()).total_seconds() if due else 0
            job.retry_intervals = [math.ceil(max(delay, 0))]
            job.enqueue_at_front_on_retry = False  # A failed attempt goes to the back.
        else:
            job.retries_left = 0
        job.save_meta()

    return save


def _record_attempt(job: Job, error: TaskError) -> None:
    """Add a failed attempt to the job's meta (RQ keeps only the latest attempt's)."""
    recorded = job.meta.get(_ATTEMPTS_META_KEY)
    attempts = cast(list[object], recorded) if isinstance(recorded, list) else []
    attempts.append(
        {
            "worker_id": job.worker_name or "",
            "started_at": utcformat(job.started_at) if job.started_at else None,
            "exception_class_path": error.exception_class_path,
            "traceback": error.traceback,
        }
    )
    job.meta[_ATTEMPTS_META_KEY] = attempts


def reap_lost_jobs(queue: Queue, backend: RQBackend) -> list[str]:
    """
    Deal with the queue's STARTED jobs whose worker stopped renewing their heartbeat, and
    put back the jobs stranded between the queue and a start; their ids.
    """
    lost = [
        job_id
        for job_id in IntermediateQueue(queue.key, connection=queue.connection).get_job_ids()
        if requeue_if_stranded(queue, job_id, backend)
    ]
    for job_id in StartedJobRegistry(queue=queue).get_job_ids(cleanup=False):
        try:
            job = Job.fetch(job_id, connection=queue.connection, serializer=JSONSerializer)
        except NoSuchJobError:
            continue
        if (
            job.func_name == RUNNER_PATH
            and job.get_status(refresh=False) == JobStatus.STARTED
            and backend.is_lost(job)
        ):
            fail_lost_job(job, backend)
            lost.append(job.id)
    return lost


# Moves a job id from the intermediate queue back to the front of its queue, if it is
# still there: atomic, so that two processes that look at once requeue it once.
_REQUEUE_SCRIPT = """
if redis.call('lrem', KEYS[1], 1, ARGV[1]) == 1 then
    redis.call('lpush', KEYS[2], ARGV[1])
    redis.call('del', KEYS[3])
    return 1
end
return 0
"""


def requeue_if_stranded(queue: Queue, job_id: str, backend: RQBackend) -> bool:
    """
    Put back at the front of its queue a job that a worker took off the queue (RQ moves
    it to an intermediate queue) and died before starting; True if it did. RQ itself looks
    only in its maintenance pass, every 10 minutes by default, and then fails the job.
    Stranded: seen there, never started, for over WORKER_TIMEOUT.
    """
    intermediate = IntermediateQueue(queue.key, connection=queue.connection)
    if job_id in StartedJobRegistry(queue=queue):
        return False
    first_seen = intermediate.get_first_seen(job_id)
    if first_seen is None:
        intermediate.set_first_seen(job_id)
        return False
    if (datetime.now(UTC) - first_seen).total_seconds() <= backend.worker_timeout:
        return False
    keys = [intermediate.key, queue.key, intermediate.get_first_seen_key(job_id)]
    requeued = bool(queue.connection.eval(_REQUEUE_SCRIPT, len(keys), *keys, job_id))
    if requeued:
        logger.warning(
            "RQ job %s was taken off queue %r by a worker that died before starting it; "
            "it is back at the front of the queue.",
            job_id,
            queue.name,
        )
    return requeued


def fail_lost_job(job: Job, backend: RQBackend) -> None:
    """
    Record the attempt of a STARTED job whose worker died as failed with WorkerLost; the
    job is retried as any failed attempt would be (it counts as one), else FAILED.
    """
    queue = Queue(job.origin, connection=job.connection, serializer=JSONSerializer)
    lost = WorkerLost(
        f"Worker {job.worker_name or '?'} stopped renewing the heartbeat of this job for over "
        f"{backend.worker_timeout:g} s (WORKER_TIMEOUT): it died or lost Redis."
    )
    error = TaskError(
        exception_class_path=_WORKER_LOST_PATH, traceback=f"{_WORKER_LOST_PATH}: {lost}\n"
    )
    retry_in = _retry_delay(job, backend, lost)
    _record_attempt(job, error)
    with job.connection.pipeline() as pipeline:
        StartedJobRegistry(queue=queue).remove_executions(job, pipeline=pipeline)
        pipeline.hset(job.key, "meta", JSONSerializer.dumps(job.meta))
        if retry_in is None:
            record_job_failure(job, error.traceback, pipeline)
        else:
            job.retries_left = 1
            job.retry_intervals = [math.ceil(retry_in)]
            # Without a delay it keeps its place in line, as on the database backend.
            job.enqueue_at_front_on_retry = retry_in <= 0
            job.retry(queue, pipeline)
        pipeline.execute()


def _retry_delay(job: Job, backend: RQBackend, error: BaseException) -> float | None:
    """The delay before the next attempt of a job whose attempt failed, or None."""
    try:
        result = backend.lost_attempt_result(job)
        policy = backend.attempt_policy(result.task)
        if result.attempts >= policy.max_attempts:
            return None
        return delay_seconds(policy.backoff(error, result))
    except Exception:
        return None  # A corrupt job, or a backoff that fails: the attempt is the last.


class _ReapTurn:
    """Whose turn it is to look for lost jobs: at most once an interval, one process at once."""

    def __init__(self) -> None:
        self._next: dict[tuple[int, str], float] = {}

    def take(self, queue: Queue, interval: float) -> bool:
        key = (os.getpid(), queue.name)
        now = time.monotonic()
        if now < self._next.get(key, 0.0):
            return False
        self._next[key] = now + interval
        taken = queue.connection.set(
            _REAP_KEY.format(queue.name), os.getpid(), nx=True, px=int(interval * 1000)
        )
        return bool(taken)


class Heartbeats:
    """
    Renews the alive key of each job running in this process from a daemon thread, so a
    reader can tell a job whose worker died (its key expires) from a long one.
    """

    def __init__(self) -> None:
        self._jobs: dict[str, tuple[Redis, float]] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._interval = math.inf
        self._pid = 0

    def start(self, job_id: str, connection: Redis, lease: float) -> None:
        with self._lock:
            self._jobs[job_id] = (connection, lease)
            if self._pid != os.getpid():  # A forked work-horse has no thread yet.
                self._pid = os.getpid()
                threading.Thread(target=self._beat, daemon=True, name="django-tasks-rq").start()
            elif lease / 4 < self._interval:
                self._wake.set()  # Beat sooner than planned.

    def stop(self, job_id: str) -> None:
        with self._lock:
            self._jobs.pop(job_id, None)

    def after_fork(self) -> None:
        self._jobs, self._lock, self._wake = {}, threading.Lock(), threading.Event()
        self._interval, self._pid = math.inf, 0

    def _beat(self) -> None:
        # Each beat waits a quarter lease: a job younger than its lease counts as alive.
        while True:
            with self._lock:
                leases = [lease for _, lease in self._jobs.values()]
                self._interval = min(leases, default=DEFAULT_WORKER_TIMEOUT) / 4
            if self._wake.wait(self._interval):
                self._wake.clear()
                continue
            with self._lock:
                jobs = list(self._jobs.items())
            for job_id, (connection, lease) in jobs:
                # Redis away: the lease tells readers so if it stays away.
                with suppress(RedisError):
                    connection.set(_ALIVE_KEY.format(job_id), 1, px=int(lease * 1000))


_heartbeats = Heartbeats()
_reap_turn = _ReapTurn()
os.register_at_fork(after_in_child=_heartbeats.after_fork)


# --- helpers -----------------------------------------------------------------------


def _envelope_of(job: Job) -> dict[str, Any]:
    try:
        func_name = job.func_name
        args = cast(Sequence[object], job.args)
        kwargs = cast(Mapping[str, object], job.kwargs)
    except DeserializationError as e:
        raise InvalidTask(f"RQ job {job.id} is corrupt: its data is not JSON.") from e
    envelope: object = args[0] if len(args) == 1 and not kwargs else None
    if func_name != RUNNER_PATH or not isinstance(envelope, dict):
        raise InvalidTask(f"RQ job {job.id} is not a django-tasks job (it calls {func_name!r}).")
    envelope = cast(dict[str, Any], envelope)
    task_args, task_kwargs = envelope.get("args"), envelope.get("kwargs")
    if (
        not isinstance(envelope.get("task"), str)
        or not isinstance(envelope.get("backend"), str)
        or not isinstance(task_args, list)
        or not isinstance(task_kwargs, dict)
    ):
        raise InvalidTask(
            f"RQ job {job.id} is corrupt: it needs 'task' and 'backend' strings, an 'args' "
            f"list and a 'kwargs' object, not {envelope!r}."
        )
    return envelope


@dataclass(frozen=True)
class _Attempt:
    worker_id: str
    started_at: datetime | None
    error: TaskError


def _recorded_attempts(job: Job) -> list[_Attempt]:
    recorded = job.meta.get(_ATTEMPTS_META_KEY)
    entries = cast(list[object], recorded) if isinstance(recorded, list) else []
    attempts: list[_Attempt] = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        fields = cast(dict[str, object], entry)
        started_at = fields.get("started_at")
        attempts.append(
            _Attempt(
                worker_id=str(fields.get("worker_id", "")),
                started_at=utcparse(started_at) if isinstance(started_at, str) else None,
                error=TaskError(
                    exception_class_path=str(fields.get("exception_class_path", "")),
                    traceback=str(fields.get("traceback", "")),
                ),
            )
        )
    return attempts


def _rq_error(latest: Result | None) -> TaskError:
    """The error of an attempt that failed outside the runner: RQ's timeout, a killed
    work-horse, a worker that could not read the job."""
    exc_string = (latest.exc_string if latest is not None else None) or "The job failed."
    if "DeserializationError" in exc_string:
        exc_string += (
            "\nThe RQ worker could not read this job: django-tasks' jobs are JSON, and RQ "
            f"workers unpickle jobs by default. Start workers with `{WORKER_COMMAND}`."
        )
    return TaskError(exception_class_path=_exception_path(exc_string), traceback=exc_string)


def _exception_path(exc_string: str) -> str:
    lines = [line for line in exc_string.splitlines() if line.strip()]
    for line in reversed(lines):
        match = _EXCEPTION_LINE.match(line.strip())
        if match and not line.startswith(" "):
            name = match.group(1)
            return name if "." in name else f"builtins.{name}"
    return _WORKER_LOST_PATH


def _whole_second_after(when: datetime) -> datetime:
    # RQ schedules in whole seconds, rounding down, which would run a task too early.
    return when + timedelta(microseconds=1_000_000 - when.microsecond) if when.microsecond else when


def _django_time(value: datetime) -> datetime:
    if timezone.is_naive(value):
        value = value.replace(tzinfo=UTC)
    return value if settings.USE_TZ else timezone.make_naive(value)


def _rq_queues() -> dict[str, dict[str, Any]]:
    return cast(dict[str, dict[str, Any]], getattr(settings, "RQ_QUEUES", None) or {})


def _describe_connection(connection: Redis) -> str:
    kwargs = connection.connection_pool.connection_kwargs
    if "path" in kwargs:
        return f"unix://{kwargs['path']}?db={kwargs.get('db', 0)}"
    return f"redis://{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"


def _seconds(alias: str, name: str, value: object) -> int:
    seconds = seconds_of(value)
    if seconds is None:
        raise InvalidTaskBackend(
            f"TASKS[{alias!r}]['OPTIONS'][{name!r}] must be a positive number of seconds or "
            f"a timedelta, not {value!r}."
        )
    return max(1, math.ceil(seconds))
