"""
Periodic tasks: `schedule(when, task, *args, **kwargs)` declares one, at import time (an
app's tasks.py), and a Schedule says when its ticks come due. The database backend's
workers enqueue each tick (django_tasks/backends/database/scheduler.py).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ParamSpec

from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from .base import Task
from .exceptions import InvalidTask, InvalidTaskBackend
from .execution import arguments_problem, resolve_task, signature_of
from .serialization import JSONValue, normalize_arguments

if TYPE_CHECKING:
    from cronsim import CronSim

__all__ = ["Schedule", "schedule", "schedules"]

P = ParamSpec("P")

# Interval ticks fall on whole multiples of the interval since this instant, on every
# worker alike: timedelta(minutes=5) ticks at :00, :05, ... and timedelta(days=1) at
# midnight UTC.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# A worker does not look for due ticks more often than this.
MIN_INTERVAL = timedelta(seconds=1)
CRON_FIELDS = "minute hour day-of-month month day-of-week"


@dataclass(frozen=True, kw_only=True)
class Schedule:
    """
    A task to enqueue at each tick of `when`: a cron string (five fields, in TIME_ZONE)
    or a timedelta, with the same arguments each time. `key` names it among processes
    and restarts: it is derived from the task, `when` and the arguments.
    """

    when: str | timedelta
    task: Task[..., Any]
    args: list[JSONValue]
    kwargs: dict[str, JSONValue]
    key: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", _key_of(self))

    @property
    def description(self) -> str:
        """`when` as people write it: the cron string, or the interval."""
        when = _unchecked(self.when)
        if isinstance(when, timedelta):
            return f"every {_seconds_text(when)}"
        return " ".join(when.split()) if isinstance(when, str) else repr(when)

    def problems(self) -> list[str]:
        """What would keep workers from enqueueing this schedule's ticks (empty: nothing)."""
        found = self._when_problems()
        found.extend(self._task_problems())
        return found

    def next_tick(self, after: datetime) -> datetime | None:
        """The first tick strictly after `after` (aware), or None if none ever comes."""
        if isinstance(self.when, timedelta):
            step = _microseconds(self.when)
            elapsed = _microseconds(after - EPOCH)
            return EPOCH + timedelta(microseconds=(elapsed // step + 1) * step)
        zone = timezone.get_default_timezone()
        # cronsim counts wall-clock time for a job at set hours (as Debian's cron does):
        # from the repeated hour of a DST change its first tick can be the hour's first
        # pass, before `after`.
        for tick in self._cron(after.astimezone(zone)):
            if tick > after:
                return tick.astimezone(UTC)
        return None  # No match within 50 years, such as February 31st.

    def latest_tick(self, first: datetime, now: datetime) -> datetime | None:
        """The last tick in [first, now], where `first` is a tick; None if `first` > now."""
        if first > now:
            return None
        if isinstance(self.when, timedelta):
            step = _microseconds(self.when)
            return first + timedelta(microseconds=_microseconds(now - first) // step * step)
        latest = first
        while (tick := self.next_tick(latest)) is not None and tick <= now:
            latest = tick
        return latest

    def _when_problems(self) -> list[str]:
        when = _unchecked(self.when)
        if isinstance(when, timedelta):
            if when < MIN_INTERVAL:
                return [f"its interval, {when!r}, is shorter than a second."]
            return []
        if not isinstance(when, str):
            return [f"when is a {type(when).__qualname__}, not a cron string or a timedelta."]
        fields = when.split()
        if len(fields) != 5:
            seconds = " (no seconds: cron's smallest step is a minute)" if len(fields) == 6 else ""
            return [
                f"the cron string {when!r} has {len(fields)} field(s), not the five of cron "
                f"({CRON_FIELDS}){seconds}."
            ]
        _cronsim()
        from cronsim import CronSimError

        try:
            self._cron(timezone.now())
        except CronSimError as e:
            return [f"the cron string {when!r} is not valid: {e}."]
        if self.next_tick(timezone.now()) is None:
            return [f"the cron string {when!r} never comes due."]
        return []

    def _task_problems(self) -> list[str]:
        task = self.task
        try:
            task.get_backend()
        except InvalidTaskBackend as e:
            return [f"its task's backend is not configured: {e}"]
        try:
            found = resolve_task(task.module_path)
        except InvalidTask as e:
            return [f"workers cannot find its task: {e}"]
        if found.func is not task.func:
            return [
                f"workers cannot find its task: {task.module_path} names another task than "
                "the one scheduled."
            ]
        problem = arguments_problem(task, self.args, self.kwargs)
        if problem is not None:
            return [
                f"its arguments do not fit {task.module_path}{signature_of(task)}: {problem} "
                f"(args={self.args!r}, kwargs={self.kwargs!r})."
            ]
        return []

    def _cron(self, start: datetime) -> CronSim:
        assert isinstance(self.when, str)
        return _cronsim()(" ".join(self.when.split()), start)


def schedule(
    when: str | timedelta, task: Task[P, Any], /, *args: P.args, **kwargs: P.kwargs
) -> Schedule:
    """
    Enqueue `task(*args, **kwargs)` at each tick of `when`: a cron string (five fields,
    in TIME_ZONE) or a timedelta. Call it at import time, in an app's tasks.py. Raises
    TypeError, as enqueue does, for arguments that are not JSON. A bad cron string, a
    task workers cannot find or arguments that do not fit are reported by the system
    checks, and workers refuse to start with them.
    """
    given = _unchecked(task)
    if not isinstance(given, Task):
        raise TypeError(f"schedule() takes a task (made with @task), not {given!r}.")
    if isinstance(when, str):
        _cronsim()  # Missing: say so now rather than at the checks.
    normalized_args, normalized_kwargs = normalize_arguments(args, kwargs)
    declared = Schedule(when=when, task=task, args=normalized_args, kwargs=normalized_kwargs)
    schedules.append(declared)
    return declared


# Every schedule declared with schedule(), in order (the same one may appear twice).
schedules: list[Schedule] = []


def _cronsim() -> type[CronSim]:
    try:
        from cronsim import CronSim
    except ImportError as e:
        raise ImproperlyConfigured(
            "A cron string schedule needs the cronsim package: install django-tasks[cron] "
            "(or use a timedelta)."
        ) from e
    return CronSim


def _key_of(declared: Schedule) -> str:
    task = declared.task
    given = _unchecked(declared.when)
    when: object = (
        _microseconds(given)
        if isinstance(given, timedelta)
        else " ".join(given.split())
        if isinstance(given, str)
        else repr(given)
    )
    identity = [
        task.module_path,
        task.backend,
        task.queue_name,
        task.priority,
        when,
        declared.args,
        declared.kwargs,
    ]
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _unchecked(value: object) -> object:
    """A value as it may be at run time: untyped callers can pass anything."""
    return value


def _microseconds(span: timedelta) -> int:
    return (span.days * 86_400 + span.seconds) * 1_000_000 + span.microseconds


def _seconds_text(span: timedelta) -> str:
    seconds = span.total_seconds()
    for size, unit in ((86_400, "day"), (3_600, "hour"), (60, "minute"), (1, "second")):
        if seconds >= size and seconds % size == 0:
            return _count(seconds / size, unit)
    return _count(seconds, "second")


def _count(number: float, unit: str) -> str:
    return f"{number:g} {unit}{'' if number == 1 else 's'}"
