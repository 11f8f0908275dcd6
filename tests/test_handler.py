"""The TASKS setting, the backends built from it, and the public names."""

import threading

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from pytest_django import Settings

import django_tasks
from django_tasks import TaskBackendHandler, default_task_backend, task_backends
from django_tasks.backends.base import BaseTaskBackend
from django_tasks.backends.dummy import DummyBackend
from django_tasks.backends.immediate import ImmediateBackend
from django_tasks.base import (
    DEFAULT_TASK_BACKEND_ALIAS,
    DEFAULT_TASK_PRIORITY,
    DEFAULT_TASK_QUEUE_NAME,
    TASK_MAX_PRIORITY,
    TASK_MIN_PRIORITY,
)
from django_tasks.exceptions import (
    InvalidTask,
    InvalidTaskBackend,
    InvalidTaskBackendError,
    InvalidTaskError,
    TaskException,
    TaskResultDoesNotExist,
    TaskResultMismatch,
)

from . import tasks

DUMMY = {"BACKEND": "django_tasks.backends.dummy.DummyBackend", "ENQUEUE_ON_COMMIT": False}


# --- building backends --------------------------------------------------------------


def test_each_alias_gets_its_configured_backend() -> None:
    assert isinstance(task_backends["default"], ImmediateBackend)
    assert isinstance(task_backends["dummy"], DummyBackend)


def test_backend_knows_its_alias() -> None:
    assert task_backends["dummy"].alias == "dummy"


def test_backend_is_built_once_per_thread() -> None:
    assert task_backends["default"] is task_backends["default"]


def test_each_thread_gets_its_own_backend() -> None:
    in_thread: list[BaseTaskBackend] = []
    thread = threading.Thread(target=lambda: in_thread.append(task_backends["dummy"]))
    thread.start()
    thread.join()

    assert isinstance(in_thread[0], DummyBackend)
    assert in_thread[0] is not task_backends["dummy"]


def test_backend_reads_queues_options_and_enqueue_on_commit(settings: Settings) -> None:
    settings.TASKS = {
        "default": {
            "BACKEND": "django_tasks.backends.dummy.DummyBackend",
            "QUEUES": ["default", "emails"],
            "ENQUEUE_ON_COMMIT": False,
            "OPTIONS": {"answer": 42},
        }
    }

    backend = task_backends["default"]

    assert backend.queues == {"default", "emails"}
    assert backend.enqueue_on_commit is False
    assert backend.options == {"answer": 42}


def test_backend_defaults_to_the_default_queue_on_commit_and_no_options(
    settings: Settings,
) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}

    backend = task_backends["default"]

    assert backend.queues == {DEFAULT_TASK_QUEUE_NAME}
    assert backend.enqueue_on_commit is True
    assert backend.options == {}


def test_all_returns_every_configured_backend() -> None:
    assert {backend.alias for backend in task_backends.all()} >= {"default", "dummy"}


def test_default_task_backend_is_the_backend_named_default(settings: Settings) -> None:
    settings.TASKS = {"default": DUMMY}

    result = default_task_backend.enqueue(tasks.add, [1, 2], {})

    assert default_task_backend.alias == DEFAULT_TASK_BACKEND_ALIAS
    default = task_backends["default"]
    assert isinstance(default, DummyBackend)
    assert default.results == [result]


def test_handler_given_settings_uses_them_instead_of_tasks() -> None:
    handler = TaskBackendHandler({"only": DUMMY})

    assert isinstance(handler["only"], DummyBackend)
    with pytest.raises(InvalidTaskBackend, match=r"TASKS has 'only'"):
        handler["default"]


# --- the TASKS setting --------------------------------------------------------------


def test_without_tasks_the_default_is_an_immediate_backend(settings: Settings) -> None:
    del settings.TASKS

    assert list(task_backends.settings) == ["default"]
    assert isinstance(task_backends["default"], ImmediateBackend)


def test_empty_tasks_configures_no_backends(settings: Settings) -> None:
    settings.TASKS = {}

    with pytest.raises(
        InvalidTaskBackend, match=r"No task backend has that alias; TASKS has no backends"
    ):
        task_backends["default"]


def test_overriding_tasks_rebuilds_the_backends() -> None:
    before = task_backends["default"]

    with override_settings(TASKS={"default": DUMMY}):
        assert isinstance(task_backends["default"], DummyBackend)

    after = task_backends["default"]
    assert isinstance(after, ImmediateBackend)
    assert after is not before


def test_overriding_another_setting_keeps_the_backends() -> None:
    before = task_backends["default"]

    with override_settings(USE_I18N=False):
        assert task_backends["default"] is before


def test_unknown_alias_raises_invalid_task_backend_naming_the_configured_ones() -> None:
    with pytest.raises(
        InvalidTaskBackend,
        match=r"No task backend has that alias; TASKS has 'default', 'dummy'",
    ):
        task_backends["missing"]


def test_backend_that_cannot_be_imported_raises_invalid_task_backend(settings: Settings) -> None:
    settings.TASKS = {"default": {"BACKEND": "tests.nowhere.Backend"}}

    with pytest.raises(InvalidTaskBackend, match=r"No module named 'tests\.nowhere'"):
        task_backends["default"]


def test_backend_without_a_path_raises_invalid_task_backend(settings: Settings) -> None:
    settings.TASKS = {"default": {}}

    with pytest.raises(InvalidTaskBackend, match=r"TASKS\['default'\] has no BACKEND"):
        task_backends["default"]


# --- exceptions ---------------------------------------------------------------------


def test_invalid_task_backend_is_improperly_configured() -> None:
    assert issubclass(InvalidTaskBackend, ImproperlyConfigured)


def test_older_exception_names_are_aliases() -> None:
    assert InvalidTaskError is InvalidTask
    assert InvalidTaskBackendError is InvalidTaskBackend


@pytest.mark.parametrize("exception", [InvalidTask, TaskResultDoesNotExist, TaskResultMismatch])
def test_task_errors_share_a_base_class(exception: type[Exception]) -> None:
    assert issubclass(exception, TaskException)


# --- public names -------------------------------------------------------------------


def test_package_exports_the_public_api() -> None:
    assert set(django_tasks.__all__) >= {
        "task",
        "Task",
        "TaskResult",
        "TaskContext",
        "TaskResultStatus",
        "task_backends",
        "default_task_backend",
        "DEFAULT_TASK_BACKEND_ALIAS",
        "DEFAULT_TASK_QUEUE_NAME",
    }
    assert all(hasattr(django_tasks, name) for name in django_tasks.__all__)


def test_priority_and_name_constants() -> None:
    assert DEFAULT_TASK_BACKEND_ALIAS == "default"
    assert DEFAULT_TASK_QUEUE_NAME == "default"
    assert (TASK_MIN_PRIORITY, DEFAULT_TASK_PRIORITY, TASK_MAX_PRIORITY) == (-100, 0, 100)


def test_result_statuses() -> None:
    assert [status.value for status in django_tasks.TaskResultStatus] == [
        "READY",
        "RUNNING",
        "FAILED",
        "SUCCESSFUL",
    ]
