from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from django.utils import timezone

from ..base import Task, TaskResult, TaskResultStatus
from ..execution import run_task, start_attempt
from ..signals import task_enqueued
from ..utils import get_random_id
from .base import BaseTaskBackend

T = TypeVar("T")


class ImmediateBackend(BaseTaskBackend):
    """Runs each task in the calling thread as it is enqueued (or when the transaction commits)."""

    supports_async_task = True
    supports_priority = True
    # Every attempt runs at once, one after another: the backoff's delay is not waited.
    supports_retries = True
    supports_timeout = True

    def __init__(self, alias: str, params: Mapping[str, Any]) -> None:
        super().__init__(alias, params)
        self.worker_id = get_random_id()

    def enqueue(
        self, task: Task[..., T], args: Sequence[object], kwargs: Mapping[str, object]
    ) -> TaskResult[T]:
        result = self.new_result(task, args, kwargs)
        self.enqueue_result(result)
        return result

    def store_results(self, results: Sequence[TaskResult[Any]]) -> None:
        # "Storing" a result here is running it.
        for result in results:
            object.__setattr__(result, "enqueued_at", timezone.now())
            task_enqueued.send(type(self), task_result=result)
            while result.status == TaskResultStatus.READY:  # The first attempt, or a retry.
                start_attempt(result, self.worker_id)
                # As Django's: a task's SystemExit is its failure, and only Ctrl+C goes on up.
                run_task(result, reraise=(KeyboardInterrupt,))
