"""
The worker behind `manage.py db_worker`: claims tasks from the table, runs each with the
shared runner (django_tasks.execution), and stores the outcome. The queries are the
model manager's; this module decides when to ask.

With concurrency 1 the worker's own thread runs the tasks, one at a time. With more, it
claims for its free slots and hands the tasks to that many slot threads, each with its
own database connection; the coroutines of async tasks all run on one event loop of the
worker. A heartbeat thread renews the leases of the running tasks and watches their
timeouts (see _Heartbeat).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import inspect
import logging
import math
import os
import random
import select
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Collection, Generator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache, partial
from queue import SimpleQueue
from types import FrameType, TracebackType
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.db import DatabaseError, connections, router
from django.utils import timezone

from ... import task_backends
from ...base import (
    DEFAULT_TASK_BACKEND_ALIAS,
    DEFAULT_TASK_QUEUE_NAME,
    TaskError,
    TaskResult,
    TaskResultStatus,
)
from ...exceptions import InvalidTask, InvalidTaskBackend
from ...execution import record_attempt_error, record_failure, run_task
from ...periodic import schedules
from ...signals import task_finished
from ...timeouts import timed_out
from ...utils import get_module_path, get_random_id
from .backend import DatabaseBackend, failed_outcome, outcome_of, result_from_row
from .db_errors import is_lock_conflict, is_retryable, is_statement_error
from .exceptions import AttemptTimedOut, WorkerInterrupted
from .listener import DataVersionWatch, EnqueueListener
from .models import DBTaskResult
from .records import MAX_NAME_LENGTH, Claimant, Outcome
from .scheduler import Scheduler

logger = logging.getLogger("django_tasks.backends.database")

R = TypeVar("R")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

# Back-off after a database error: from the first delay, doubling up to the last.
RETRY_DELAYS = (0.05, 30.0)
# After "database is locked" (SQLite), try again soon: the writer is about to finish.
LOCKED_RETRY_DELAY = 0.01
# How often an idle worker on SQLite looks for a commit (DataVersionWatch): a new task
# waits half this on average. Each look wakes the process, which costs more than the
# look itself: at 25 a second an idle worker uses under 1% of a core.
CHANGE_CHECK_INTERVAL = 0.04
# How long past its timeout a task that did not stop may run before the worker gives up
# on it (records it timed out and exits, see _Heartbeat), and how long that may take.
TIMEOUT_GRACE = 5.0
# The exit status of a worker that gave up on a task that ignored its timeout.
TIMED_OUT_EXIT_STATUS = 3


def check_concurrency(value: object) -> int:
    """The number of tasks a worker runs at once: a whole number >= 1 (ValueError)."""
    if type(value) is not int or value < 1:
        raise ValueError(f"concurrency must be a whole number of at least 1, not {value!r}.")
    return value


class Worker:
    """
    Runs the tasks of one DatabaseBackend, `concurrency` at a time, until stopped: by
    `stop()` (SIGTERM/SIGINT, see `handling_signals`), by an empty queue with `batch`,
    or after `max_tasks` tasks.
    """

    def __init__(
        self,
        *,
        backend_name: str = DEFAULT_TASK_BACKEND_ALIAS,
        queue_names: Collection[str] | None = (DEFAULT_TASK_QUEUE_NAME,),
        interval: float = 1.0,
        batch: bool = False,
        max_tasks: int | None = None,
        worker_id: str | None = None,
        startup_delay: bool = True,
        concurrency: int = 1,
    ) -> None:
        backend = task_backends[backend_name]
        if not isinstance(backend, DatabaseBackend):
            raise InvalidTaskBackend(
                f"Backend '{backend_name}' is not a database backend. It is a "
                f"{type(backend).__qualname__}: db_worker runs database tasks only."
            )
        if not math.isfinite(interval) or interval < 0:
            raise ValueError(f"interval must be a number of seconds >= 0, not {interval!r}.")
        if max_tasks is not None and max_tasks < 1:
            raise ValueError(f"max_tasks must be at least 1, not {max_tasks!r}.")
        worker_id = get_random_id() if worker_id is None else worker_id
        if not 0 < len(worker_id) <= MAX_NAME_LENGTH:
            raise ValueError(f"A worker id has 1 to {MAX_NAME_LENGTH} characters: {worker_id!r}.")
        if queue_names is not None and not all(queue_names):
            raise ValueError(f"Queue names cannot be empty: {sorted(queue_names)!r}.")
        self.concurrency = check_concurrency(concurrency)

        self.backend = backend
        self.claimant = Claimant(
            worker_id=worker_id,
            backend_name=backend_name,
            queue_names=None if queue_names is None else frozenset(queue_names),
            lease=backend.worker_timeout,
        )
        self.interval = interval
        self.batch = batch
        self.max_tasks = max_tasks
        self.startup_delay = startup_delay
        self.using = router.db_for_write(DBTaskResult)
        # Enqueues the ticks of periodic schedules; refuses schedules it cannot run.
        self.scheduler = Scheduler(schedules, worker_id=worker_id)
        # Renew leases, and look for lost tasks, four times per WORKER_TIMEOUT.
        self.heartbeat_interval = backend.worker_timeout.total_seconds() / 4

        self.tasks_run = 0  # Claimed tasks dealt with: run, or failed as corrupt.
        self.stopping = False  # Finish the current task, then stop.
        self.stopped_at_once = False  # A second signal: stop now.
        self._interruptible = False  # A task's function is running in this thread.
        self.lock = threading.Lock()  # What slot threads share: running, _claims, tasks_run.
        self.running: dict[uuid.UUID, DBTaskResult] = {}  # Claimed; the heartbeat renews them.
        self._claims = 0  # With concurrency: tasks claimed or being claimed (for max_tasks).
        self._halt = threading.Event()  # Set when stopping at once: slot threads' waits end.
        self._alarm_for: str | None = None  # The result whose SIGALRM is armed.
        self._heartbeat: _Heartbeat | None = None
        self._next_reclaim = 0.0
        self._listener: EnqueueListener | None = None
        self._watch: DataVersionWatch | None = None
        self._thread: threading.Thread | None = None  # The one running run().
        # stop() and signals wake a waiting worker through this pair.
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._wake_writer.setblocking(False)

    @property
    def worker_id(self) -> str:
        return self.claimant.worker_id

    # --- control ------------------------------------------------------------------

    def stop(self) -> None:
        """Stop after the current task (from any thread)."""
        self.stopping = True
        self.wake()

    @contextlib.contextmanager
    def handling_signals(self) -> Generator[None, None, None]:
        """SIGTERM and SIGINT stop after the current task; a second one stops at once."""
        previous = {signum: signal.signal(signum, self.handle_signal) for signum in STOP_SIGNALS}
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def handle_signal(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        # Each line begins as upstream's db_worker words it (signal.strsignal's name).
        if not self.stopping:
            logger.warning(
                "Received %s - shutting down gracefully... (press Ctrl+C again to force) "
                "Worker %s got %s: stopping after the current task (send it again to stop "
                "at once).",
                signal.strsignal(signum),
                self.worker_id,
                name,
            )
            self.stop()
            return
        logger.warning(
            "Received %s - terminating current task. Worker %s got %s again: stopping at once.",
            signal.strsignal(signum),
            self.worker_id,
            name,
        )
        self.stopped_at_once = True
        self._halt.set()
        self.wake()
        if self.concurrency > 1:
            return  # The loop fails the running tasks, and exits (_work_concurrently).
        if self._thread not in (None, threading.current_thread()):
            # The worker runs in another thread (--reload), where nothing can be raised:
            # exit now, and the lease of its task expires.
            logging.shutdown()
            os._exit(1)
        if self._interruptible:
            self._interruptible = False
            # Raised in the task's frame: run_task records it as the task's failure.
            raise WorkerInterrupted(
                f"Worker {self.worker_id} received {name} twice and stopped while this task "
                "was running."
            )

    # --- the loop -----------------------------------------------------------------

    def run(self) -> None:
        """
        Run tasks until stopped (once: a worker is not restarted). Raises
        WorkerInterrupted if a second signal cut a task short.
        """
        logger.info(
            "Starting worker worker_id=%s queues=%s backend=%s",
            self.worker_id,
            "*"
            if self.claimant.queue_names is None
            else ",".join(sorted(self.claimant.queue_names)),
            self.claimant.backend_name,
        )
        self._thread = threading.current_thread()
        self._listener = EnqueueListener.for_database(self.using)
        self._watch = None if self.batch else DataVersionWatch.for_database(self.using)
        if not self.batch:
            self._listen()  # Before the first claim, so that no enqueue goes unnoticed.
        heartbeat = self._heartbeat = _Heartbeat(self)
        heartbeat.start()
        alarm = None
        if self.concurrency == 1 and self._thread is threading.main_thread():
            alarm = signal.signal(signal.SIGALRM, self._on_alarm)
        try:
            if self.startup_delay:
                # Workers started together do not all hit the table at once.
                self._sleep(random.uniform(0, min(self.interval, 1.0)))
            if self.concurrency == 1:
                self._work()
            else:
                self._work_concurrently()
        finally:
            if alarm is not None:
                signal.signal(signal.SIGALRM, alarm)
            heartbeat.stop()
            self._close_listener()
            self._wake_reader.close()
            self._wake_writer.close()
            logger.info("Worker %s stopped after %d tasks.", self.worker_id, self.tasks_run)

    def _work(self) -> None:
        while not self._should_stop():
            self._reclaim_if_due()
            self.scheduler.run_due()
            row = self._claim()
            if row is None:
                if self.batch:
                    logger.info(
                        "No more tasks to run for worker_id=%s - exiting gracefully. (--batch)",
                        self.worker_id,
                    )
                    return
                self._wait_for_work()
            # Each outcome is stored with the next task's claim, in one transaction.
            while row is not None:
                row = self.process(row)
                self._reclaim_if_due()
                self.scheduler.run_due()
        if self.max_tasks is not None and self.tasks_run >= self.max_tasks:
            logger.info(
                "Run maximum tasks (%d) on worker=%s - exiting gracefully.",
                self.tasks_run,
                self.worker_id,
            )

    def _work_concurrently(self) -> None:
        """
        Keep `concurrency` slots busy: claim for the idle ones (in one statement on
        PostgreSQL). A slot claims its own next task as it stores an outcome, as the
        worker of concurrency 1 does; it comes back here when none was ready.
        """
        slots = _Slots(self)
        try:
            while True:
                if self.stopped_at_once:
                    self._abandon_running_tasks()
                self._reclaim_if_due()
                self.scheduler.run_due()
                wanted = self._reserve_claims(slots.idle)
                rows: list[DBTaskResult] = []
                if wanted:
                    self._consume_notifications()
                    self._mark_data_version()
                    claim = partial(DBTaskResult.objects.claim_up_to, self.claimant, wanted)
                    rows = self._retrying("claim tasks", claim) or []
                    self._hold(rows, unreserved=wanted - len(rows))
                    for row in rows:
                        slots.hand(row)
                if slots.busy == 0 and (self._should_stop() or (self.batch and not rows)):
                    if self.batch and not self._should_stop():
                        logger.info(
                            "No more tasks to run for worker_id=%s - exiting gracefully. (--batch)",
                            self.worker_id,
                        )
                    break
                if wanted and len(rows) == wanted and slots.idle:
                    continue  # There may be more.
                if self.batch or not slots.idle or self._should_stop() or self._claims_used():
                    # Until a slot frees (or lost tasks or a periodic tick are due).
                    wait = min(self.heartbeat_interval, self.scheduler.seconds_until_due())
                    self._sleep(wait, ignore_stop=True)
                else:
                    self._wait_for_work()
        finally:
            slots.close()
        if self.max_tasks is not None and self.tasks_run >= self.max_tasks:
            logger.info(
                "Run maximum tasks (%d) on worker=%s - exiting gracefully.",
                self.tasks_run,
                self.worker_id,
            )

    def _reserve_claims(self, wanted: int) -> int:
        """How many tasks to claim for `wanted` free slots (max_tasks counts claims)."""
        with self.lock:
            if self.stopping or self.stopped_at_once:
                return 0
            if self.max_tasks is not None:
                wanted = min(wanted, self.max_tasks - self._claims)
            self._claims += wanted
            return wanted

    def _claims_used(self) -> bool:
        return self.max_tasks is not None and self._claims >= self.max_tasks

    def _hold(self, rows: list[DBTaskResult], unreserved: int = 0) -> None:
        with self.lock:
            self.running.update((row.pk, row) for row in rows)
            self._claims -= unreserved

    def _abandon_running_tasks(self) -> None:
        """A second signal, with concurrency: fail the running tasks, and exit 1 now."""
        interrupted = WorkerInterrupted(
            f"Worker {self.worker_id} received a second signal and stopped while this task "
            "was running."
        )
        path = get_module_path(WorkerInterrupted)
        error = TaskError(exception_class_path=path, traceback=f"{path}: {interrupted}\n")
        with self.lock:
            rows = list(self.running.values())
        for row in rows:
            with contextlib.suppress(DatabaseError):  # The lease brings it back instead.
                DBTaskResult.objects.finish(
                    failed_outcome(row, error, timezone.now()), self.claimant
                )
        logger.warning(
            "Worker %s stopped at once with %d tasks running.", self.worker_id, len(rows)
        )
        logging.shutdown()
        os._exit(1)  # The slot threads cannot be stopped: the process goes.

    def _should_stop(self) -> bool:
        return (
            self.stopping
            or self.stopped_at_once
            or (self.max_tasks is not None and self.tasks_run >= self.max_tasks)
        )

    def _wants_another(self) -> bool:
        """Whether to claim a next task along with the current task's outcome."""
        if self.stopping or self.stopped_at_once:
            return False
        if self.concurrency > 1:
            return self._reserve_claims(1) == 1
        return self.max_tasks is None or self.tasks_run + 1 < self.max_tasks

    def _claim(self) -> DBTaskResult | None:
        self._consume_notifications()
        self._mark_data_version()
        row = self._retrying("claim a task", lambda: DBTaskResult.objects.claim_next(self.claimant))
        if row is not None:
            self.running[row.pk] = row
        return row

    def process(self, row: DBTaskResult) -> DBTaskResult | None:
        """Run a claimed task and store its outcome; return the next claimed task, if any."""
        started = time.monotonic()
        try:
            result = result_from_row(row)
            _check_arguments_fit(result)
        except InvalidTask as exc:
            return self._fail_unrunnable(row, exc)

        next_row: DBTaskResult | None = None
        saved = False

        def save_outcome(result: TaskResult[Any]) -> None:
            nonlocal next_row, saved
            self._interruptible = False
            next_row = self._store(result)
            saved = True

        timeout = self.backend.attempt_policy(result.task).timeout
        watch = None if timeout is None else partial(self._watch_attempt, result)
        self._interruptible = self.concurrency == 1
        try:
            if self.stopped_at_once:  # The second signal came before the task started.
                raise WorkerInterrupted(f"Worker {self.worker_id} stopped before this task ran.")
            run_task(result, save_outcome=save_outcome, watch=watch)
        except WorkerInterrupted as exc:
            if not saved:  # Stopped before the function ran, or as it returned.
                if not result.is_finished:
                    record_failure(result, exc)
                self._store(result)
            raise
        except Exception as exc:
            # run_task records what the task raises: this came from a signal receiver.
            logger.exception("Task id=%s: a task signal receiver raised.", result.id)
            if not saved:  # task_started's: the task did not run.
                record_failure(result, exc)
                next_row = self._store(result)
        finally:
            self._interruptible = False
        self._count_run()
        logger.info(
            "Task id=%s path=%s status=%s duration=%.3fs",
            result.id,
            result.task.module_path,
            result.status,
            time.monotonic() - started,
        )
        return next_row

    def _fail_unrunnable(self, row: DBTaskResult, exc: InvalidTask) -> DBTaskResult | None:
        logger.error("Task id=%s path=%s status=FAILED: %s", row.id, row.task_path, exc)
        path = get_module_path(type(exc))
        error = TaskError(exception_class_path=path, traceback=f"{path}: {exc}\n")
        outcome = failed_outcome(row, error, timezone.now())
        next_row = self._store_outcome(outcome)
        self._count_run()
        return next_row

    def _count_run(self) -> None:
        if self.concurrency == 1:
            self.tasks_run += 1
            return
        with self.lock:
            self.tasks_run += 1

    # --- timeouts -----------------------------------------------------------------

    def _watch_attempt(self, result: TaskResult[Any], call: Callable[[], R], seconds: float) -> R:
        """
        Make the call of an attempt that has a timeout. In the main thread, a sync task
        is interrupted by SIGALRM at its timeout (AttemptTimedOut, in its frame); async
        tasks are cancelled on their event loop (the runner's asyncio.timeout). Either
        way, the heartbeat gives up on an attempt still running TIMEOUT_GRACE later.
        """
        heartbeat = self._heartbeat
        assert heartbeat is not None  # Set by run().
        alarm = (
            self.concurrency == 1
            and not result.task.is_async
            and threading.current_thread() is threading.main_thread()
        )
        heartbeat.watch(result, time.monotonic() + seconds + TIMEOUT_GRACE)
        if alarm:
            self._alarm_for = result.id
            signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            return call()
        finally:
            if alarm:
                # The flag first: an alarm handled after it raises nothing.
                self._alarm_for = None
                signal.setitimer(signal.ITIMER_REAL, 0)
            heartbeat.unwatch(result)

    def _on_alarm(self, signum: int, frame: FrameType | None) -> None:
        if self._alarm_for is None:
            return
        self._alarm_for = None
        raise AttemptTimedOut(f"Worker {self.worker_id}: the attempt reached its timeout.")

    def give_up_on(self, overdue: list[_Watched]) -> None:
        """
        The heartbeat's last resort, for attempts still running TIMEOUT_GRACE past their
        timeout (a thread that cannot be interrupted, a call that ignores signals):
        record them timed out (retried if attempts are left), end the leases of the
        other running tasks so that any worker takes them back, and exit
        TIMED_OUT_EXIT_STATUS, for a supervisor to start a new worker. Never returns.
        """
        hard_stop = threading.Timer(TIMEOUT_GRACE, _exit_now, [TIMED_OUT_EXIT_STATUS])
        hard_stop.daemon = True
        hard_stop.start()  # Whatever the database does meanwhile.
        self.stopping = True
        # Documented in sys, and the only way to see where another thread is.
        frames = sys._current_frames()  # pyright: ignore[reportPrivateUsage]
        for watched in overdue:
            result = watched.result
            task = result.task
            logger.error(
                "Task id=%s path=%s ran past its timeout and did not stop within %gs; "
                "worker %s gives up on it and exits.",
                result.id,
                task.module_path,
                TIMEOUT_GRACE,
                self.worker_id,
            )
            policy = self.backend.attempt_policy(task)
            assert policy.timeout is not None  # It is watched.
            exc = timed_out(f"Task {task.module_path}", policy.timeout)
            exc.__traceback__ = _traceback_of(frames.get(watched.thread_id))
            late = copy.copy(result)  # The thread may still change its own.
            object.__setattr__(late, "errors", list(result.errors))
            record_attempt_error(late, exc, policy)
            try:
                stored, _ = DBTaskResult.objects.finish(outcome_of(late), self.claimant)
                if stored:
                    task_finished.send(type(self.backend), task_result=late)
            except Exception:
                logger.exception("Task id=%s: could not record its timeout.", result.id)
        with contextlib.suppress(DatabaseError):
            DBTaskResult.objects.expire_leases(self.claimant)
        _exit_now(TIMED_OUT_EXIT_STATUS)

    def _store(self, result: TaskResult[Any]) -> DBTaskResult | None:
        """Store a finished result's outcome (and claim the next task); retried until done."""
        return self._store_outcome(outcome_of(result), result)

    def _store_outcome(
        self, outcome: Outcome, result: TaskResult[Any] | None = None
    ) -> DBTaskResult | None:
        delay = RETRY_DELAYS[0]
        refused = False
        while True:
            claim_next = self._wants_another()
            try:
                stored, next_row = DBTaskResult.objects.finish(
                    outcome, self.claimant, claim_next=claim_next
                )
            except DatabaseError as exc:
                if claim_next and self.concurrency > 1:
                    self._hold([], unreserved=1)
                if self.stopped_at_once:
                    self._drop(outcome, "stopping at once", exc)
                    return None
                if is_retryable(exc, self.using):
                    delay = self._back_off("store a task's outcome", exc, delay)
                    continue
                if result is None or refused:
                    self._drop(outcome, "the database refuses it", exc)
                    return None
                # The database will not take this outcome (a return value too large for
                # it, say): store that refusal as the task's failure instead.
                logger.error(
                    "Task id=%s: the database refused its outcome (%s); storing that as its "
                    "failure.",
                    outcome.id,
                    exc,
                )
                record_failure(result, exc)
                outcome = outcome_of(result)
                refused = True
                continue
            if not stored:
                logger.warning(
                    "Task id=%s: its lease expired and another worker took it back; its "
                    "outcome here was not stored.",
                    outcome.id,
                )
            if claim_next and next_row is None and self.concurrency > 1:
                self._hold([], unreserved=1)
            self._hand_over(outcome.id, next_row)
            return next_row

    def _hand_over(self, done: uuid.UUID, next_row: DBTaskResult | None) -> None:
        """A task is dealt with; the next one, if any, is held instead."""
        if self.concurrency == 1:
            self.running.pop(done, None)
            if next_row is not None:
                self.running[next_row.pk] = next_row
            return
        with self.lock:
            self.running.pop(done, None)
            if next_row is not None:
                self.running[next_row.pk] = next_row

    def _drop(self, outcome: Outcome, why: str, exc: DatabaseError) -> None:
        logger.error(
            "Task id=%s: its outcome could not be stored (%s: %s); it stays RUNNING until "
            "its lease expires.",
            outcome.id,
            why,
            exc,
        )
        self._hand_over(outcome.id, None)
        self._reset_connection()

    def _reclaim_if_due(self) -> None:
        if time.monotonic() < self._next_reclaim:
            return
        self._next_reclaim = time.monotonic() + self.heartbeat_interval
        try:
            lost = self.backend.reclaim_lost_tasks()
        except DatabaseError as exc:
            logger.warning("Worker %s: could not look for lost tasks: %s", self.worker_id, exc)
            self._reset_connection()
            return
        for task in lost:
            logger.warning(
                "Task id=%s path=%s was lost by worker %s; %s.",
                task.id,
                task.task_path,
                task.worker_id,
                "it will run again"
                if task.outcome.status == TaskResultStatus.READY
                else "marked FAILED",
            )

    def _retrying(self, what: str, operation: Callable[[], R]) -> R | None:
        """
        `operation()`, tried again after database errors; None if stopped meanwhile. An
        error in the statement itself (a missing table: migrations not applied) is raised:
        trying again would only fail again.
        """
        delay = RETRY_DELAYS[0]
        while not self._should_stop():
            try:
                return operation()
            except DatabaseError as exc:
                if is_statement_error(exc):
                    logger.error(
                        "Worker %s: cannot %s: %s: %s",
                        self.worker_id,
                        what,
                        type(exc).__name__,
                        exc,
                    )
                    raise
                delay = self._back_off(what, exc, delay)
        return None

    def _back_off(self, what: str, exc: DatabaseError, delay: float) -> float:
        """Log, reconnect if need be, and sleep; return the next delay."""
        if is_lock_conflict(exc):
            logger.debug("Worker %s: could not %s (%s); retrying.", self.worker_id, what, exc)
            self._pause(LOCKED_RETRY_DELAY)
            return delay
        logger.warning(
            "Worker %s: could not %s: %s: %s; retrying in %.2fs.",
            self.worker_id,
            what,
            type(exc).__name__,
            exc,
            delay,
        )
        self._reset_connection()
        self._pause(delay)
        return min(delay * 2, RETRY_DELAYS[1])

    def _pause(self, seconds: float) -> None:
        """Sleep in whichever thread: the worker's own wakes for stop(), others for a halt."""
        if threading.current_thread() is self._thread:
            self._sleep(seconds)
        else:
            self._halt.wait(seconds)

    def _reset_connection(self) -> None:
        connection = connections[self.using]
        if connection.in_atomic_block:
            return
        try:
            connection.close()
        except DatabaseError:
            connection.connection = None

    # --- waiting ------------------------------------------------------------------

    def _wait_for_work(self) -> None:
        """
        Wait for an enqueue's notification (PostgreSQL), a commit (SQLite), `interval`,
        a periodic tick, or stop().
        """
        listener = self._listener
        timeout = min(self.interval, self.scheduler.seconds_until_due())
        if self._watch is not None:
            self._wait_for_commit(self._watch, timeout)
        elif listener is None:
            self._sleep(timeout)
        elif not listener.connected:
            # Listen first; what was enqueued before sent no notification to wait for,
            # so do not wait: the next claim looks for it.
            if not self._listen():
                self._sleep(timeout)
        else:
            try:
                self._sleep(timeout, listener.fileno())
            except Exception as exc:
                self._listener_broke(exc)

    def _wait_for_commit(self, watch: DataVersionWatch, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self._should_stop():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._sleep(min(CHANGE_CHECK_INTERVAL, left))
            try:
                if watch.changed():
                    return
            except DatabaseError:
                return  # The claim reconnects, or reports what is wrong.

    def _mark_data_version(self) -> None:
        if self._watch is None:
            return
        # The claim that follows meets the same trouble, and deals with it.
        with contextlib.suppress(DatabaseError):
            self._watch.mark()

    def _listen(self) -> bool:
        """Connect the listener; False (and poll meanwhile) if that fails."""
        if self._listener is None:
            return False
        try:
            self._listener.connect()
        except Exception as exc:
            logger.warning(
                "Worker %s: cannot listen for new tasks (%s); polling every %ss.",
                self.worker_id,
                exc,
                self.interval,
            )
            return False
        return True

    def _consume_notifications(self) -> None:
        # Before a claim: a notification that arrives after this wakes the next wait.
        if self._listener is None:
            return
        try:
            self._listener.consume()
        except Exception as exc:
            self._listener_broke(exc)

    def _listener_broke(self, exc: Exception) -> None:
        # The next wait listens again (on a new connection) before it waits.
        logger.warning(
            "Worker %s: lost the connection that waits for new tasks: %s", self.worker_id, exc
        )
        self._close_listener()

    def _close_listener(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(Exception):
                self._listener.close()

    def _sleep(self, seconds: float, *also: int, ignore_stop: bool = False) -> None:
        """
        Sleep, waking early for stop() (or _wake()), or when a file descriptor in `also`
        is readable. Only the thread running the worker sleeps here.
        """
        if not ignore_stop and self._should_stop():
            return
        select.select([self._wake_reader.fileno(), *also], [], [], seconds)
        with contextlib.suppress(BlockingIOError):
            while self._wake_reader.recv(512):
                pass

    def wake(self) -> None:
        with contextlib.suppress(OSError):  # Full: it is awake already.
            self._wake_writer.send(b"\0")


class _Slots:
    """
    The slot threads of a worker with concurrency: each runs the tasks handed to it (and
    those it claims itself as it stores an outcome) on a database connection of its own,
    closed when it ends. They are started from the worker's event loop, where the
    coroutines of async tasks then run, each one's sync calls (sync_to_async) back in
    its slot's thread.
    """

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        count = worker.concurrency
        self.idle = count
        self._inboxes: list[SimpleQueue[DBTaskResult | None]] = [
            SimpleQueue() for _ in range(count)
        ]
        self._free = list(range(count))
        self._loop = asyncio.new_event_loop()
        self._loop_thread = threading.Thread(
            target=self._loop.run_forever, name=f"async tasks {worker.worker_id}", daemon=True
        )
        self._loop_thread.start()
        self._pool = ThreadPoolExecutor(count, thread_name_prefix=f"slot {worker.worker_id}")
        self._done: list[Future[None]] = [
            asyncio.run_coroutine_threadsafe(
                sync_to_async(self._run, thread_sensitive=False, executor=self._pool)(slot),
                self._loop,
            )
            for slot in range(count)
        ]

    @property
    def busy(self) -> int:
        return self.worker.concurrency - self.idle

    def hand(self, row: DBTaskResult) -> None:
        with self.worker.lock:
            self.idle -= 1
            slot = self._free.pop()
        self._inboxes[slot].put(row)

    def close(self) -> None:
        """Let each slot finish its tasks, then end its thread, and the event loop."""
        for inbox in self._inboxes:
            inbox.put(None)
        for done in self._done:
            done.result()
        self._pool.shutdown()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._loop_thread.join()
        self._loop.close()

    def _run(self, slot: int) -> None:
        worker = self.worker
        inbox = self._inboxes[slot]
        try:
            while (row := inbox.get()) is not None:
                try:
                    while row is not None:
                        row = worker.process(row)
                except Exception:
                    logger.exception("Worker %s: a task slot failed; stopping.", worker.worker_id)
                    worker.stop()
                with worker.lock:
                    self._free.append(slot)
                    self.idle += 1
                worker.wake()
        finally:
            connections.close_all()


@dataclass(frozen=True)
class _Watched:
    result: TaskResult[Any]
    thread_id: int
    give_up_at: float  # time.monotonic()


class _Heartbeat(threading.Thread):
    """
    Renews the leases of the worker's tasks (one UPDATE for all of them), on a database
    connection of its own; and gives up on attempts that run TIMEOUT_GRACE past their
    timeout (Worker.give_up_on).
    """

    def __init__(self, worker: Worker) -> None:
        super().__init__(name=f"heartbeat {worker.worker_id}", daemon=True)
        self.worker = worker
        self._changed = threading.Condition()
        self._stopped = False
        self._watched: dict[str, _Watched] = {}

    def watch(self, result: TaskResult[Any], give_up_at: float) -> None:
        with self._changed:
            self._watched[result.id] = _Watched(result, threading.get_ident(), give_up_at)
            self._changed.notify()

    def unwatch(self, result: TaskResult[Any]) -> None:
        with self._changed:
            del self._watched[result.id]

    def run(self) -> None:
        worker = self.worker
        renew_at = time.monotonic() + worker.heartbeat_interval
        try:
            while True:
                with self._changed:
                    now = time.monotonic()
                    wake_at = min([renew_at, *(w.give_up_at for w in self._watched.values())])
                    if not self._stopped and wake_at > now:
                        self._changed.wait(wake_at - now)
                    if self._stopped:
                        return
                    now = time.monotonic()
                    overdue = [w for w in self._watched.values() if w.give_up_at <= now]
                if overdue:
                    worker.give_up_on(overdue)
                if now >= renew_at:
                    renew_at = now + worker.heartbeat_interval
                    self._renew()
        finally:
            connections[worker.using].close()

    def _renew(self) -> None:
        worker = self.worker
        with worker.lock:
            running = list(worker.running)
        if not running:
            return
        try:
            DBTaskResult.objects.renew_leases(running, worker.claimant)
        except DatabaseError as exc:
            logger.warning("Worker %s: could not renew its leases: %s", worker.worker_id, exc)
            connections[worker.using].close()

    def stop(self) -> None:
        with self._changed:
            self._stopped = True
            self._changed.notify()
        self.join()


def _traceback_of(frame: FrameType | None) -> TracebackType | None:
    """A traceback of a thread's stack (`sys._current_frames()`), innermost call last."""
    traceback = None
    while frame is not None:
        traceback = TracebackType(traceback, frame, frame.f_lasti, frame.f_lineno)
        frame = frame.f_back
    return traceback


def _exit_now(status: int) -> None:
    logging.shutdown()
    os._exit(status)


def _check_arguments_fit(result: TaskResult[Any]) -> None:
    task = result.task
    context: list[object] = [None] if task.takes_context else []
    try:
        _signature(task.func).bind(*context, *result.args, **result.kwargs)
    except TypeError as e:
        raise InvalidTask(
            f"The stored arguments of task result {result.id} no longer fit "
            f"{task.module_path}{_signature(task.func)}: {e} (args={result.args!r}, "
            f"kwargs={result.kwargs!r})."
        ) from e


@cache
def _signature(func: Callable[..., object]) -> inspect.Signature:
    return inspect.signature(func)
