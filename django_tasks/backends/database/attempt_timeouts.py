"""
Timeouts on the database worker. With concurrency 1, in the main thread, a sync task is
interrupted by SIGALRM at its timeout (AttemptTimedOut, raised in its frame); async
tasks are cancelled on their event loop (the runner's asyncio.timeout); a sync task in
a slot thread cannot be interrupted, and fails if it returns late. Whatever still runs
TIMEOUT_GRACE past its timeout, the heartbeat gives up on (give_up_on): the worker then
records it timed out and exits.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Generator
from types import FrameType, TracebackType
from typing import Any, NoReturn, TypeVar

from django.db import DatabaseError

from ...base import TaskResult
from ...execution import detached, record_attempt_error
from ...signals import task_finished
from ...timeouts import timed_out
from .backend import DatabaseBackend
from .exceptions import AttemptTimedOut
from .heartbeat import Heartbeat, Watched
from .models import DBTaskResult
from .records import Claimant
from .rows import outcome_of

logger = logging.getLogger("django_tasks.backends.database")

R = TypeVar("R")

# How long past its timeout a task that did not stop may run before the worker gives up
# on it (records it timed out and exits), and how long that may take.
TIMEOUT_GRACE = 5.0
# The exit status of a worker that gave up on a task that ignored its timeout.
TIMED_OUT_EXIT_STATUS = 3


class AttemptTimeouts:
    """What a worker does to attempts that have a timeout."""

    def __init__(
        self,
        *,
        backend: DatabaseBackend,
        claimant: Claimant,
        heartbeat: Heartbeat,
        alarms: bool,
        stop: Callable[[], None],
    ) -> None:
        """
        The timeouts of the attempts of `claimant`'s tasks. `alarms`: SIGALRM may
        interrupt sync tasks (concurrency 1). `stop` stops the worker after its tasks.
        """
        self.backend = backend
        self.claimant = claimant
        self.heartbeat = heartbeat
        self.alarms = alarms
        self.stop = stop
        self._alarm_for: str | None = None  # The result whose SIGALRM is armed.

    @contextlib.contextmanager
    def alarm_installed(self) -> Generator[None, None, None]:
        """SIGALRM interrupts timed-out sync tasks, while the worker runs."""
        if not self.alarms or threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.signal(signal.SIGALRM, self._on_alarm)
        try:
            yield
        finally:
            signal.signal(signal.SIGALRM, previous)

    def watch(self, result: TaskResult[Any], call: Callable[[], R], seconds: float) -> R:
        """Make the call of an attempt that has a timeout (run_task's `watch`)."""
        heartbeat = self.heartbeat
        alarm = (
            self.alarms
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
        raise AttemptTimedOut(f"Worker {self.claimant.worker_id}: the attempt reached its timeout.")

    def give_up_on(self, overdue: list[Watched]) -> NoReturn:
        """
        The heartbeat's last resort, for attempts still running TIMEOUT_GRACE past their
        timeout (a thread that cannot be interrupted, a call that ignores signals):
        record them timed out (retried if attempts are left), end the leases of the
        other running tasks so that any worker takes them back, and exit
        TIMED_OUT_EXIT_STATUS, for a supervisor to start a new worker.
        """
        hard_stop = threading.Timer(TIMEOUT_GRACE, exit_now, [TIMED_OUT_EXIT_STATUS])
        hard_stop.daemon = True
        hard_stop.start()  # Whatever the database does meanwhile.
        self.stop()
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
                self.claimant.worker_id,
            )
            policy = self.backend.attempt_policy(task)
            assert policy.timeout is not None  # It is watched.
            exc = timed_out(f"Task {task.module_path}", policy.timeout)
            exc.__traceback__ = _traceback_of(frames.get(watched.thread_id))
            late = detached(result)  # The thread may still change its own.
            record_attempt_error(late, exc, policy)
            try:
                stored, _ = DBTaskResult.objects.finish(outcome_of(late), self.claimant)
                if stored:
                    task_finished.send(type(self.backend), task_result=late)
            except Exception:
                logger.exception("Task id=%s: could not record its timeout.", result.id)
        with contextlib.suppress(DatabaseError):
            DBTaskResult.objects.expire_leases(self.claimant)
        exit_now(TIMED_OUT_EXIT_STATUS)


def exit_now(status: int) -> NoReturn:
    """End the process at once: the threads running tasks cannot be stopped."""
    logging.shutdown()
    os._exit(status)


def _traceback_of(frame: FrameType | None) -> TracebackType | None:
    """A traceback of a thread's stack (`sys._current_frames()`), innermost call last."""
    traceback = None
    while frame is not None:
        traceback = TracebackType(traceback, frame, frame.f_lasti, frame.f_lineno)
        frame = frame.f_back
    return traceback
