"""
The module surface that code written for upstream django-tasks 0.12 imports: every
name django-tasks-db 0.12 and django-tasks-rq 0.12 take from `django_tasks`.
"""

import importlib

import pytest

from django_tasks.compat import TASK_CLASSES
from django_tasks.utils import get_exception_traceback, normalize_json

from . import tasks

IMPORTED_BY_THIRD_PARTY_BACKENDS = [
    ("django_tasks", "DEFAULT_TASK_BACKEND_ALIAS"),
    ("django_tasks", "DEFAULT_TASK_QUEUE_NAME"),
    ("django_tasks", "task_backends"),
    ("django_tasks.backends.base", "BaseTaskBackend"),
    ("django_tasks.base", "DEFAULT_TASK_PRIORITY"),
    ("django_tasks.base", "DEFAULT_TASK_QUEUE_NAME"),
    ("django_tasks.base", "TASK_MAX_PRIORITY"),
    ("django_tasks.base", "TASK_MIN_PRIORITY"),
    ("django_tasks.base", "Task"),
    ("django_tasks.base", "TaskContext"),
    ("django_tasks.base", "TaskError"),
    ("django_tasks.base", "TaskResult"),
    ("django_tasks.base", "TaskResultStatus"),
    ("django_tasks.compat", "TASK_CLASSES"),
    ("django_tasks.exceptions", "InvalidTaskBackendError"),
    ("django_tasks.exceptions", "TaskResultDoesNotExist"),
    ("django_tasks.signals", "task_enqueued"),
    ("django_tasks.signals", "task_finished"),
    ("django_tasks.signals", "task_started"),
    ("django_tasks.utils", "get_exception_traceback"),
    ("django_tasks.utils", "get_module_path"),
    ("django_tasks.utils", "get_random_id"),
    ("django_tasks.utils", "is_module_level_function"),
    ("django_tasks.utils", "normalize_json"),
]


@pytest.mark.parametrize(("module", "name"), IMPORTED_BY_THIRD_PARTY_BACKENDS)
def test_a_name_third_party_backends_import_exists(module: str, name: str) -> None:
    assert hasattr(importlib.import_module(module), name)


def test_task_classes_hold_our_task_class() -> None:
    assert isinstance(tasks.add, TASK_CLASSES)


def test_normalize_json_turns_tuples_into_lists_at_any_depth() -> None:
    assert normalize_json({"args": (1, ("a", None)), "kwargs": {}}) == {
        "args": [1, ["a", None]],
        "kwargs": {},
    }


def test_normalize_json_refuses_what_json_cannot_hold() -> None:
    with pytest.raises(TypeError, match="not JSON-serializable"):
        normalize_json({"when": {1, 2}})


def test_get_exception_traceback_is_the_formatted_traceback() -> None:
    try:
        raise ValueError("boom")
    except ValueError as exc:
        traceback = get_exception_traceback(exc)

    assert traceback.startswith("Traceback (most recent call last):\n")
    assert traceback.endswith("ValueError: boom\n")
