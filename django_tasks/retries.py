"""A task's attempts: how many, how long apart, how long each may run; checked, with defaults."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from django.utils.module_loading import import_string

from .backoff import Backoff, exponential
from .durations import seconds_of

DEFAULT_MAX_ATTEMPTS = 1


@dataclass(frozen=True, slots=True)
class AttemptPolicy:
    max_attempts: int
    backoff: Backoff
    timeout: float | None  # Seconds an attempt may run; None: no limit.


def policy_from_settings(alias: str, params: Mapping[str, Any]) -> AttemptPolicy:
    """A backend's defaults: MAX_ATTEMPTS, BACKOFF and TIMEOUT of its TASKS entry; ValueError."""
    where = f"TASKS[{alias!r}]"
    backoff: object = params.get("BACKOFF")
    if backoff is None:
        backoff = exponential()
    elif isinstance(backoff, str):
        try:
            backoff = import_string(backoff)
        except ImportError as e:
            raise ValueError(f"{where}['BACKOFF'] {backoff!r} cannot be imported: {e}") from e
    return AttemptPolicy(
        max_attempts=check_count(
            params.get("MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS), f"{where}['MAX_ATTEMPTS']"
        ),
        backoff=check_backoff(backoff, f"{where}['BACKOFF']"),
        timeout=check_timeout(params.get("TIMEOUT"), f"{where}['TIMEOUT']"),
    )


def check_count(value: object, what: str) -> int:
    """A whole number >= 1 (max_attempts, and the worker's max_tasks and concurrency)."""
    if type(value) is not int or value < 1:
        raise ValueError(f"{what} must be a whole number of at least 1, not {value!r}.")
    return value


def check_backoff(value: object, what: str) -> Backoff:
    if not callable(value):
        raise ValueError(
            f"{what} must be a Backoff (a function of the error and the result), not {value!r}."
        )
    return cast(Backoff, value)


def check_timeout(value: object, what: str) -> float | None:
    if value is None:
        return None
    seconds = seconds_of(value)
    if seconds is None:
        raise ValueError(
            f"{what} must be a positive number of seconds or a timedelta, not {value!r}."
        )
    return seconds
