"""What code written for upstream django-tasks 0.12 finds in `django_tasks.compat`."""

# django.tasks is in django-stubs, but at run time only from Django 6 on.
# pyright: reportMissingModuleSource=false

from typing import Any

from .base import Task


def _task_classes() -> tuple[type[Any], ...]:
    try:
        from django.tasks.base import Task as DjangoTask
    except ImportError:
        return (Task,)
    return (Task, DjangoTask)


# The classes a stored task path may name: ours, or (Django 6) one Django's @task made.
TASK_CLASSES = _task_classes()

__all__ = ["TASK_CLASSES"]
