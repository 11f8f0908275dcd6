import logging
from typing import Any

from django.core.signals import setting_changed
from django.dispatch import Signal, receiver

from .base import TaskResult, TaskResultStatus

logger = logging.getLogger("django_tasks")

# Each is sent with sender=the backend class and task_result=the TaskResult.
task_enqueued = Signal()
task_started = Signal()
task_finished = Signal()


@receiver(setting_changed)
def reset_task_backends(*, setting: str, **kwargs: Any) -> None:
    """Tests that override TASKS get backends built from the new value."""
    if setting == "TASKS":
        from . import task_backends

        task_backends.reset()


@receiver(task_enqueued)
def log_task_enqueued(sender: type[object], task_result: TaskResult[Any], **kwargs: Any) -> None:
    logger.debug(
        "Task id=%s path=%s enqueued backend=%s",
        task_result.id,
        task_result.task.module_path,
        task_result.backend,
    )


@receiver(task_started)
def log_task_started(sender: type[object], task_result: TaskResult[Any], **kwargs: Any) -> None:
    logger.info(
        "Task id=%s path=%s state=%s attempt=%d",
        task_result.id,
        task_result.task.module_path,
        task_result.status,
        task_result.attempts,
    )


@receiver(task_finished)
def log_task_finished(sender: type[object], task_result: TaskResult[Any], **kwargs: Any) -> None:
    failed = task_result.status == TaskResultStatus.FAILED
    logger.log(
        logging.ERROR if failed else logging.INFO,
        "Task id=%s path=%s state=%s%s",
        task_result.id,
        task_result.task.module_path,
        task_result.status,
        f"\n{task_result.errors[-1].traceback}" if failed and task_result.errors else "",
    )
