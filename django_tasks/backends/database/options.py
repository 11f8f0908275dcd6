"""
The worker's options, each checked in one place: Worker() and db_worker's arguments
(management/arguments.py) both call these, so that a bad value gets the same message
from either. Each raises ValueError (InvalidTaskBackend for the backend).
"""

from __future__ import annotations

from collections.abc import Collection

from ... import task_backends
from ...durations import seconds_of
from ...exceptions import InvalidTaskBackend
from ...retries import check_count
from .backend import DatabaseBackend
from .records import MAX_NAME_LENGTH


def check_interval(value: object) -> float:
    """Seconds between looks at the table when idle: a number >= 0."""
    seconds = seconds_of(value, zero=True, timedeltas=False)
    if seconds is None:
        raise ValueError(f"interval must be a number of seconds >= 0, not {value!r}.")
    return seconds


def check_max_tasks(value: object) -> int | None:
    """How many tasks to run before stopping: a whole number >= 1, or None (no limit)."""
    return None if value is None else check_count(value, "max_tasks")


def check_concurrency(value: object) -> int:
    """The number of tasks a worker runs at once: a whole number >= 1."""
    return check_count(value, "concurrency")


def check_worker_id(value: object) -> str:
    """A worker's id: 1 to MAX_NAME_LENGTH characters (the column's size)."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_NAME_LENGTH:
        raise ValueError(f"A worker id has 1 to {MAX_NAME_LENGTH} characters, not {value!r}.")
    return value


def check_queue_names(value: Collection[str] | None) -> frozenset[str] | None:
    """The queues to run (None: every queue), none of them empty."""
    if value is None:
        return None
    names = frozenset(value)
    if not all(names):
        raise ValueError(f"Queue names cannot be empty: {sorted(value)!r}.")
    return names


def database_backend(alias: str) -> DatabaseBackend:
    """The DatabaseBackend of TASKS[alias]; InvalidTaskBackend if there is none."""
    backend = task_backends[alias]
    if not isinstance(backend, DatabaseBackend):
        raise InvalidTaskBackend(
            f"Backend '{alias}' is not a database backend. It is a {type(backend).__qualname__}."
        )
    return backend
