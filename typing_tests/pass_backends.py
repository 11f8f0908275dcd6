"""Backends, as configured in TASKS and as used directly."""

from collections.abc import Iterable
from typing import Any, assert_type

from django.core.checks import CheckMessage

import django_tasks
from django_tasks import default_task_backend, task_backends
from django_tasks.backends.base import BaseTaskBackend
from django_tasks.backends.dummy import DummyBackend
from django_tasks.backends.immediate import ImmediateBackend
from django_tasks.base import TaskResult
from typing_tests.tasks_fixture import add, fetch_title

assert_type(django_tasks.default_task_backend, BaseTaskBackend)
assert_type(default_task_backend, BaseTaskBackend)
assert_type(task_backends["default"], BaseTaskBackend)
assert_type(add.get_backend(), BaseTaskBackend)

backend = task_backends["default"]
assert_type(backend.alias, str)
assert_type(backend.queues, frozenset[str])
assert_type(backend.options, dict[str, Any])
assert_type(backend.enqueue_on_commit, bool)
assert_type(backend.supports_defer, bool)
assert_type(backend.supports_async_task, bool)
assert_type(backend.supports_get_result, bool)
assert_type(backend.supports_priority, bool)
assert_type(backend.validate_task(add), None)
assert_type(backend.check(), Iterable[CheckMessage])

# A backend's own enqueue keeps the task's result type; results by id are untyped,
# as the backend cannot know which task they belong to (Task.get_result can).
assert_type(backend.enqueue(add, [1, 2], {}), TaskResult[int])
assert_type(backend.enqueue(fetch_title, (), {"url": "u"}), TaskResult[str])
assert_type(backend.get_result("id"), TaskResult[Any])

# Both in-process backends are BaseTaskBackends; the Dummy one keeps its results.
dummy = DummyBackend(alias="dummy", params={})
assert_type(dummy.results, list[TaskResult[Any]])
assert_type(dummy.clear(), None)
assert_type(
    ImmediateBackend(alias="immediate", params={}).enqueue(add, [1, 2], {}), TaskResult[int]
)
backends: list[BaseTaskBackend] = [dummy, ImmediateBackend(alias="i", params={"QUEUES": []})]


async def use_backend_async() -> None:
    assert_type(await backend.aenqueue(add, [1, 2], {}), TaskResult[int])
    assert_type(await backend.aget_result("id"), TaskResult[Any])
