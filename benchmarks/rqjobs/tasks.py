"""The RQ backend's side of the RQ benchmark: the same no-op as raw.py, as a task."""

import time

from django_tasks import TaskContext, task

from .execlog import log_start


@task(takes_context=True)
def noop(context: TaskContext) -> None:
    started = time.time()
    log_start(context.task_result.id, started)
