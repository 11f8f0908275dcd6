"""How long to wait before a failed task's next attempt: `@task(backoff=...)`."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta
from inspect import isclass
from typing import TYPE_CHECKING, Any, TypeAlias, cast

from .durations import seconds_of

if TYPE_CHECKING:
    from .base import TaskResult

# Given the attempt's error and the result (whose `attempts` counts the attempt that just
# failed), the delay before the next attempt, or None to give up now.
Backoff: TypeAlias = Callable[[BaseException, "TaskResult[Any]"], float | timedelta | None]

RetryOn: TypeAlias = tuple[type[BaseException], ...]


def exponential(
    initial: float = 1.0,
    factor: float = 2.0,
    cap: float = 600.0,
    jitter: bool = True,
    retry_on: RetryOn = (Exception,),
) -> Backoff:
    """
    Wait `initial` seconds after the first failure, `factor` times longer after each next
    one, never more than `cap`. With `jitter`, each wait is drawn between half of that and
    all of it, so that tasks that failed together do not all come back together. Only
    errors of a `retry_on` class are retried.
    """
    _check_seconds("initial", initial)
    _check_seconds("cap", cap)
    if not _is_number(factor) or factor < 1:
        raise ValueError(f"factor must be a number of at least 1, not {factor!r}.")
    retry_on = _check_retry_on(retry_on)

    def backoff(exc: BaseException, result: TaskResult[Any]) -> float | None:
        if not isinstance(exc, retry_on):
            return None
        try:
            delay = min(cap, initial * factor ** max(result.attempts - 1, 0))
        except OverflowError:  # A long run of failures.
            delay = cap
        return random.uniform(delay / 2, delay) if jitter else delay

    return backoff


def constant(seconds: float, retry_on: RetryOn = (Exception,)) -> Backoff:
    """Wait `seconds` after every failure; only errors of a `retry_on` class are retried."""
    _check_seconds("seconds", seconds, allow_zero=True)
    retry_on = _check_retry_on(retry_on)

    def backoff(exc: BaseException, result: TaskResult[Any]) -> float | None:
        return seconds if isinstance(exc, retry_on) else None

    return backoff


def delay_seconds(delay: object) -> float | None:
    """What a Backoff returned, in seconds; ValueError for anything but a delay or None."""
    if delay is None:
        return None
    seconds = seconds_of(delay, zero=True)
    if seconds is None:
        raise ValueError(
            f"A backoff must return a number of seconds >= 0, a timedelta or None, not {delay!r}."
        )
    return seconds


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_seconds(name: str, value: float, *, allow_zero: bool = False) -> None:
    # Typed float, but called with whatever the user wrote.
    if seconds_of(value, zero=allow_zero, timedeltas=False) is None:
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a number of seconds {bound}, not {value!r}.")


def _check_retry_on(retry_on: object) -> RetryOn:
    classes = cast(tuple[object, ...], retry_on if isinstance(retry_on, tuple) else (retry_on,))
    for cls in classes:
        if not (isclass(cls) and issubclass(cls, BaseException)):
            raise ValueError(f"retry_on must hold exception classes, not {cls!r}.")
    return cast(RetryOn, classes)
