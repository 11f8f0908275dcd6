"""
The arguments db_worker and prune_db_task_results share, as argparse types: each parses
the text, then leaves the check, and its message, to the worker's own (options.py).
"""

from __future__ import annotations

from argparse import ArgumentTypeError
from collections.abc import Callable
from contextlib import suppress
from typing import TypeVar

from django_tasks.exceptions import InvalidTaskBackend

from .. import options

T = TypeVar("T")


def _checked(
    check: Callable[[object], T], parse: Callable[[str], object] | None = None
) -> Callable[[str], T]:
    """An argparse type: the text parsed (left as it is if it does not parse), then checked."""

    def argument_type(text: str) -> T:
        value: object = text
        if parse is not None:
            with suppress(ValueError):
                value = parse(text)
        try:
            return check(value)
        except (ValueError, InvalidTaskBackend) as e:
            raise ArgumentTypeError(str(e)) from None

    return argument_type


def _queue_names(text: object) -> frozenset[str] | None:
    names = [name.strip() for name in str(text).split(",")]
    return options.check_queue_names(None if "*" in names else names)


def _backend_alias(alias: object) -> str:
    options.database_backend(str(alias))
    return str(alias)


interval = _checked(options.check_interval, float)
max_tasks = _checked(options.check_max_tasks, int)
concurrency = _checked(options.check_concurrency, int)
worker_id = _checked(options.check_worker_id)
queue_names = _checked(_queue_names)
database_backend = _checked(_backend_alias)
