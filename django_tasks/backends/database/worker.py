"""
The worker behind `manage.py db_worker`: claims tasks from the table, runs each with the
shared runner (django_tasks.execution), and stores the outcome. The queries are the
model manager's, which hands it TaskResults; this module decides when to ask.

With concurrency 1 the worker's own thread runs the tasks, one at a time. With more, it
claims for its free slots and hands the tasks to that many slot threads (slots.py). A
heartbeat thread renews the leases of the running tasks (heartbeat.py) and watches their
timeouts (attempt_timeouts.py). Between claims it waits as waiting.py says.
"""

from __future__ import annotations

import contextlib
import logging
import random
import signal
import threading
import time
from collections.abc import Callable, Collection, Generator
from functools import partial
from types import FrameType
from typing import Any, TypeVar

from django.db import DatabaseError, connections, router
from django.utils import timezone

from ...base import (
    DEFAULT_TASK_BACKEND_ALIAS,
    DEFAULT_TASK_QUEUE_NAME,
    TaskError,
    TaskResult,
    TaskResultStatus,
)
from ...execution import detached, record_failure, run_task
from ...periodic import schedules
from ...signals import task_finished
from ...utils import get_module_path, get_random_id
from . import options
from .attempt_timeouts import AttemptTimeouts, exit_now
from .db_errors import is_lock_conflict, is_retryable, is_statement_error
from .exceptions import WorkerInterrupted
from .heartbeat import Heartbeat
from .models import DBTaskResult
from .records import Claimant, Claimed, Outcome, Unrunnable
from .rows import failed_outcome, outcome_of
from .scheduler import Scheduler
from .slots import Slots
from .waiting import Waiter

logger = logging.getLogger("django_tasks.backends.database")

R = TypeVar("R")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

# Back-off after a database error: from the first delay, doubling up to the last.
RETRY_DELAYS = (0.05, 30.0)
# After "database is locked" (SQLite), try again soon: the writer is about to finish.
LOCKED_RETRY_DELAY = 0.01


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
        # Each option is checked as db_worker checks its argument (options.py).
        backend = options.database_backend(backend_name)
        self.interval = options.check_interval(interval)
        self.max_tasks = options.check_max_tasks(max_tasks)
        self.concurrency = options.check_concurrency(concurrency)
        worker_id = options.check_worker_id(get_random_id() if worker_id is None else worker_id)

        self.backend = backend
        self.claimant = Claimant(
            worker_id=worker_id,
            backend_name=backend_name,
            queue_names=options.check_queue_names(queue_names),
            lease=backend.worker_timeout,
        )
        self.batch = batch
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
        self.running: dict[str, Claimed] = {}  # By id; the heartbeat renews their leases.
        self._claims = 0  # With concurrency: tasks claimed or being claimed (for max_tasks).
        self._halt = threading.Event()  # Set when stopping at once: slot threads' waits end.
        self.heartbeat = Heartbeat(
            claimant=self.claimant,
            using=self.using,
            interval=self.heartbeat_interval,
            running=self._running_ids,
            on_overdue=lambda overdue: self.timeouts.give_up_on(overdue),
        )
        self.timeouts = AttemptTimeouts(
            backend=backend,
            claimant=self.claimant,
            heartbeat=self.heartbeat,
            alarms=self.concurrency == 1,
            stop=self.stop,
        )
        self._next_reclaim = 0.0
        self._thread: threading.Thread | None = None  # The one running run().
        # stop() and signals wake a waiting worker through it.
        self.waiter = Waiter(
            worker_id=worker_id,
            using=self.using,
            interval=self.interval,
            batch=batch,
            should_stop=self._should_stop,
        )

    @property
    def worker_id(self) -> str:
        return self.claimant.worker_id

    # --- control ------------------------------------------------------------------

    def stop(self) -> None:
        """Stop after the current task (from any thread)."""
        self.stopping = True
        self.waiter.wake()

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
        self.waiter.wake()
        if self.concurrency > 1:
            return  # The loop fails the running tasks, and exits (_work_concurrently).
        if self._thread not in (None, threading.current_thread()):
            # The worker runs in another thread (--reload), where nothing can be raised:
            # exit now, and the lease of its task expires.
            exit_now(1)
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
        if not self.batch:
            self.waiter.start()
        heartbeat = self.heartbeat
        heartbeat.start()
        try:
            with self.timeouts.alarm_installed():
                if self.startup_delay:
                    # Workers started together do not all hit the table at once.
                    self.waiter.sleep(random.uniform(0, min(self.interval, 1.0)))
                if self.concurrency == 1:
                    self._work()
                else:
                    self._work_concurrently()
        finally:
            heartbeat.stop()
            self.waiter.close()
            logger.info("Worker %s stopped after %d tasks.", self.worker_id, self.tasks_run)

    def _work(self) -> None:
        while not self._should_stop():
            self._reclaim_if_due()
            self.scheduler.run_due()
            claimed = self._claim()
            if claimed is None:
                if self.batch:
                    logger.info(
                        "No more tasks to run for worker_id=%s - exiting gracefully. (--batch)",
                        self.worker_id,
                    )
                    return
                self._wait_for_work()
            # Each outcome is stored with the next task's claim, in one transaction.
            while claimed is not None:
                claimed = self.process(claimed)
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
        slots = Slots(
            self.concurrency,
            worker_id=self.worker_id,
            lock=self.lock,
            process=self.process,
            stop=self.stop,
            freed=self.waiter.wake,
        )
        try:
            while True:
                if self.stopped_at_once:
                    self._abandon_running_tasks()
                self._reclaim_if_due()
                self.scheduler.run_due()
                wanted = self._reserve_claims(slots.idle)
                found: list[Claimed] = []
                if wanted:
                    self.waiter.before_claim()
                    claim = partial(DBTaskResult.objects.claim_up_to, self.claimant, wanted)
                    found = self._retrying("claim tasks", claim) or []
                    self._hold(found, unreserved=wanted - len(found))
                    for claimed in found:
                        slots.hand(claimed)
                if slots.busy == 0 and (self._should_stop() or (self.batch and not found)):
                    if self.batch and not self._should_stop():
                        logger.info(
                            "No more tasks to run for worker_id=%s - exiting gracefully. (--batch)",
                            self.worker_id,
                        )
                    break
                if wanted and len(found) == wanted and slots.idle:
                    continue  # There may be more.
                if self.batch or not slots.idle or self._should_stop() or self._claims_used():
                    # Until a slot frees (or lost tasks or a periodic tick are due).
                    wait = min(self.heartbeat_interval, self.scheduler.seconds_until_due())
                    self.waiter.sleep(wait, ignore_stop=True)
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

    def _running_ids(self) -> list[str]:
        with self.lock:
            return list(self.running)

    def _claims_used(self) -> bool:
        return self.max_tasks is not None and self._claims >= self.max_tasks

    def _hold(self, found: list[Claimed], unreserved: int = 0) -> None:
        with self.lock:
            self.running.update((claimed.id, claimed) for claimed in found)
            self._claims -= unreserved

    def _abandon_running_tasks(self) -> None:
        """A second signal, with concurrency: fail the running tasks, and exit 1 now."""
        count = self.fail_running_tasks(
            WorkerInterrupted(
                f"Worker {self.worker_id} received a second signal and stopped while this "
                "task was running."
            )
        )
        logger.warning("Worker %s stopped at once with %d tasks running.", self.worker_id, count)
        exit_now(1)  # The slot threads cannot be stopped: the process goes.

    def fail_running_tasks(self, exc: BaseException) -> int:
        """
        Store each running task's attempt as FAILED with `exc` (an attempt that has just
        ended as its own outcome), sending task_finished for those failed here. The lease
        brings back any that the database does not take. Returns how many were running.
        """
        with self.lock:
            running = list(self.running.values())
        for claimed in running:
            failed: TaskResult[Any] | None = None
            if isinstance(claimed, Unrunnable):
                error = TaskError(
                    exception_class_path=get_module_path(type(exc)),
                    traceback=f"{get_module_path(type(exc))}: {exc}\n",
                )
                outcome = failed_outcome(claimed, error, timezone.now())
            else:
                late = detached(claimed)
                if late.status == TaskResultStatus.RUNNING:
                    record_failure(late, exc)
                    failed = late
                outcome = outcome_of(late)
            try:
                stored, _ = DBTaskResult.objects.finish(outcome, self.claimant)
            except DatabaseError:
                continue
            if stored and failed is not None:
                task_finished.send(type(self.backend), task_result=failed)
        return len(running)

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

    def _claim(self) -> Claimed | None:
        self.waiter.before_claim()
        claimed = self._retrying(
            "claim a task", lambda: DBTaskResult.objects.claim_next(self.claimant)
        )
        if claimed is not None:
            self.running[claimed.id] = claimed
        return claimed

    def process(self, claimed: Claimed) -> Claimed | None:
        """Run a claimed task and store its outcome; return the next claimed task, if any."""
        if isinstance(claimed, Unrunnable):
            return self._fail_unrunnable(claimed)
        result = claimed
        started = time.monotonic()
        next_claimed: Claimed | None = None
        saved = False

        def save_outcome(result: TaskResult[Any]) -> None:
            nonlocal next_claimed, saved
            self._interruptible = False
            next_claimed = self._store(result)
            saved = True

        timeout = self.backend.attempt_policy(result.task).timeout
        watch = None if timeout is None else partial(self.timeouts.watch, result)
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
                next_claimed = self._store(result)
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
        return next_claimed

    def _fail_unrunnable(self, claimed: Unrunnable) -> Claimed | None:
        problem = claimed.problem
        logger.error("Task id=%s path=%s status=FAILED: %s", claimed.id, claimed.task_path, problem)
        path = get_module_path(type(problem))
        error = TaskError(exception_class_path=path, traceback=f"{path}: {problem}\n")
        next_claimed = self._store_outcome(failed_outcome(claimed, error, timezone.now()))
        self._count_run()
        return next_claimed

    def _count_run(self) -> None:
        if self.concurrency == 1:
            self.tasks_run += 1
            return
        with self.lock:
            self.tasks_run += 1

    def _store(self, result: TaskResult[Any]) -> Claimed | None:
        """Store a finished result's outcome (and claim the next task); retried until done."""
        return self._store_outcome(outcome_of(result), result)

    def _store_outcome(
        self, outcome: Outcome, result: TaskResult[Any] | None = None
    ) -> Claimed | None:
        delay = RETRY_DELAYS[0]
        refused = False
        while True:
            claim_next = self._wants_another()
            try:
                stored, next_claimed = DBTaskResult.objects.finish(
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
            if claim_next and next_claimed is None and self.concurrency > 1:
                self._hold([], unreserved=1)
            self._hand_over(outcome, next_claimed)
            return next_claimed

    def _hand_over(self, done: Outcome, next_claimed: Claimed | None) -> None:
        """A task is dealt with; the next one, if any, is held instead."""
        with self.lock if self.concurrency > 1 else contextlib.nullcontext():
            self.running.pop(str(done.id), None)
            if next_claimed is not None:
                self.running[next_claimed.id] = next_claimed

    def _drop(self, outcome: Outcome, why: str, exc: DatabaseError) -> None:
        logger.error(
            "Task id=%s: its outcome could not be stored (%s: %s); it stays RUNNING until "
            "its lease expires.",
            outcome.id,
            why,
            exc,
        )
        self._hand_over(outcome, None)
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
            self.waiter.sleep(seconds)
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

    def _wait_for_work(self) -> None:
        self.waiter.wait_for_work(self.scheduler.seconds_until_due())
