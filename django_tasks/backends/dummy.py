from collections.abc import Mapping, Sequence
from copy import deepcopy
from typing import Any, TypeVar

from django.utils import timezone

from ..base import Task, TaskResult
from ..exceptions import TaskResultDoesNotExist
from ..signals import task_enqueued
from .base import BaseTaskBackend

T = TypeVar("T")


class DummyBackend(BaseTaskBackend):
    """Stores what is enqueued and never runs it: for tests that check what was enqueued."""

    supports_defer = True
    supports_async_task = True
    supports_priority = True
    # It never runs a task, so it takes every task another backend could run.
    supports_retries = True
    supports_timeout = True

    def __init__(self, alias: str, params: Mapping[str, Any]) -> None:
        super().__init__(alias, params)
        self.results: list[TaskResult[Any]] = []

    def enqueue(
        self, task: Task[..., T], args: Sequence[object], kwargs: Mapping[str, object]
    ) -> TaskResult[T]:
        result = self.new_result(task, args, kwargs)
        self.enqueue_result(result)
        return result

    def store_results(self, results: Sequence[TaskResult[Any]]) -> None:
        for result in results:
            object.__setattr__(result, "enqueued_at", timezone.now())
            # A copy, as Django's: what a test changes in `results` is what `refresh()`
            # sees, and the caller's result changes only then.
            stored = deepcopy(result)
            self.results.append(stored)
            task_enqueued.send(type(self), task_result=stored)

    def get_result(self, result_id: str) -> TaskResult[Any]:
        # Results live in this process only, hence supports_get_result = False.
        for result in self.results:
            if result.id == result_id:
                return result
        raise TaskResultDoesNotExist(result_id)

    async def aget_result(self, result_id: str) -> TaskResult[Any]:
        return self.get_result(result_id)

    def clear(self) -> None:
        self.results.clear()
