"""Enqueue many tasks at once: each backend stores its share of a block in one go."""

from __future__ import annotations

from collections.abc import Sequence
from contextvars import ContextVar, Token
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from asgiref.sync import sync_to_async

if TYPE_CHECKING:
    from typing import Self

    from .base import Task, TaskResult

P = ParamSpec("P")
T = TypeVar("T")

_collecting: ContextVar[BulkEnqueue | None] = ContextVar("django_tasks_bulk_enqueue", default=None)


class BulkEnqueue:
    """
    Inside `with bulk_enqueue():` (or `async with`), enqueued tasks are collected instead
    of stored one by one; when the block exits, each backend stores its share in one go
    (one INSERT for the database backend, one pipeline for RQ, one by one for the
    others). If the block raises, none is stored.

    Each `enqueue` call is the task's own, so its arguments are checked as usual and it
    returns the task's typed TaskResult at once (READY; `enqueued_at` is set when the
    block stores it). ENQUEUE_ON_COMMIT applies to the batch as to single tasks: the
    tasks that enqueue on commit are stored when the transaction commits.
    """

    def __init__(self) -> None:
        self.results: list[TaskResult[Any]] = []
        self._token: Token[BulkEnqueue | None] | None = None

    def enqueue(self, task: Task[P, T], /, *args: P.args, **kwargs: P.kwargs) -> TaskResult[T]:
        """`task.enqueue(*args, **kwargs)`, which this block collects."""
        self._check_active()
        return task.enqueue(*args, **kwargs)

    async def aenqueue(
        self, task: Task[P, T], /, *args: P.args, **kwargs: P.kwargs
    ) -> TaskResult[T]:
        self._check_active()
        return await task.aenqueue(*args, **kwargs)

    def __enter__(self) -> Self:
        if self._token is not None:
            raise RuntimeError("This bulk_enqueue() block is already open.")
        self._token = _collecting.set(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._close()
        if exc_type is None:
            self.write()

    async def __aenter__(self) -> Self:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._close()
        if exc_type is None:
            await sync_to_async(self.write)()

    def write(self) -> None:
        """Store what was collected (see the class); then it collects afresh."""
        results, self.results = self.results, []
        store_when_committed(results)

    def _close(self) -> None:
        if self._token is None:
            raise RuntimeError("This bulk_enqueue() block is not open.")
        token, self._token = self._token, None
        _collecting.reset(token)

    def _check_active(self) -> None:
        if _collecting.get() is not self:
            raise RuntimeError(
                "BulkEnqueue.enqueue() was called outside its `with bulk_enqueue()` block."
            )


def bulk_enqueue() -> BulkEnqueue:
    """Collect the tasks enqueued in a `with` block and store them together when it exits."""
    return BulkEnqueue()


def collect(result: TaskResult[Any]) -> bool:
    """Add `result` to the open bulk_enqueue() block, if any; False if there is none."""
    batch = _collecting.get()
    if batch is None:
        return False
    batch.results.append(result)
    return True


def store_when_committed(results: Sequence[TaskResult[Any]]) -> None:
    """
    Have each backend store its share of `results`, now or, for the tasks that enqueue
    on commit, when the transaction commits.
    """
    from . import task_backends

    groups: dict[tuple[str, bool], list[TaskResult[Any]]] = {}
    for result in results:
        on_commit = task_backends[result.backend].should_enqueue_on_commit(result.task)
        groups.setdefault((result.backend, on_commit), []).append(result)
    for (alias, _), group in groups.items():
        backend = task_backends[alias]
        # Every task of the group decides the same way, so its first one can ask.
        backend.when_committed(group[0].task, partial(backend.store_results, group))
