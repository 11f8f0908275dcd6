"""Django system checks: misconfigured backends, and task annotations JSON cannot honour."""

from datetime import datetime
from io import StringIO
from typing import Any
from uuid import UUID

import pytest
from django.contrib.auth.models import User
from django.core.checks import CheckMessage, Error, Warning
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings
from pytest_django import Settings

from django_tasks import TaskContext, task
from django_tasks.checks import check_task_backends, check_task_json_types

# Tasks with annotations the JSON round trip breaks. They are declared on import of
# this module, so the checks see them whenever the test suite runs.


@task(backend="dummy")
def remind(user: User, at: datetime, ids: list[int]) -> None:
    pass


@task(backend="dummy")
def pair(a: int, b: int) -> tuple[int, int]:
    return (a, b)


@task(backend="dummy")
def lookup(key: UUID | None) -> dict[str, object]:
    return {}


@task(backend="dummy", takes_context=True)
def with_context(context: TaskContext, count: int) -> int:
    return count


@task(backend="dummy")
def clean(name: str, scores: dict[str, list[float]], tag: str | None = None) -> list[int]:
    return []


def _unannotated(at: datetime) -> datetime:
    return at


# As if written without annotations, which strict type checking does not allow here.
_unannotated.__annotations__.clear()
unannotated = task(backend="dummy")(_unannotated)


def _unresolvable(value: int) -> int:
    return value


_unresolvable.__annotations__["value"] = "NoSuchType"
unresolvable = task(backend="dummy")(_unresolvable)


def json_warnings_for(module_path: str) -> list[CheckMessage]:
    return [message for message in check_task_json_types() if message.obj == module_path]


# --- backends -----------------------------------------------------------------------


def test_configured_backends_pass_the_checks() -> None:
    assert check_task_backends() == []


def test_backend_that_cannot_be_imported_is_an_error(settings: Settings) -> None:
    settings.TASKS = {"default": {"BACKEND": "tests.nowhere.Backend"}}

    [message] = check_task_backends()

    assert isinstance(message, Error)
    assert message.id == "django_tasks.E002"
    assert message.obj == "TASKS['default']"
    assert "Could not find backend 'tests.nowhere.Backend'" in message.msg


def test_backend_without_a_backend_path_is_an_error(settings: Settings) -> None:
    settings.TASKS = {"default": {"QUEUES": []}}

    [message] = check_task_backends()

    assert message.id == "django_tasks.E002"
    assert "TASKS['default'] has no BACKEND" in message.msg


def test_only_the_misconfigured_backend_is_reported(settings: Settings) -> None:
    settings.TASKS = {
        "default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"},
        "broken": {"BACKEND": "tests.nowhere.Backend"},
    }

    assert [message.obj for message in check_task_backends()] == ["TASKS['broken']"]


def test_misconfigured_backend_fails_the_check_command(settings: Settings) -> None:
    settings.TASKS = {"default": {"BACKEND": "tests.nowhere.Backend"}}

    # Only our checks: Django 6's own (once django.tasks is imported) raises instead.
    with pytest.raises(SystemCheckError, match=r"django_tasks\.E002"):
        call_command("check", tags=["tasks"], stdout=StringIO(), stderr=StringIO())


def no_databases() -> Any:
    # Django warns that overriding DATABASES is unusual; the check only reads it.
    return pytest.warns(UserWarning, match="Overriding setting DATABASES")


def immediate_backend(**params: object) -> dict[str, dict[str, object]]:
    return {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend", **params}}


def test_a_backend_without_databases_passes() -> None:
    with no_databases(), override_settings(DATABASES={}, TASKS=immediate_backend()):
        assert check_task_backends() == []


# --- annotations --------------------------------------------------------------------


def test_parameter_annotated_with_a_model_is_warned_about() -> None:
    [user, at] = [
        message
        for message in json_warnings_for("tests.test_checks.remind")
        if message.id == "django_tasks.W001"
    ]

    assert isinstance(user, Warning)
    assert user.msg == (
        "Task tests.test_checks.remind parameter 'user' is annotated User, which does not "
        "survive the JSON round trip: django.contrib.auth.models.User is a model; pass its "
        "primary key instead."
    )
    assert "parameter 'at' is annotated datetime" in at.msg


def test_parameter_with_a_json_annotation_is_not_warned_about() -> None:
    assert not any(
        "'ids'" in message.msg for message in json_warnings_for("tests.test_checks.remind")
    )


def test_return_annotation_that_json_breaks_is_warned_about() -> None:
    [message] = json_warnings_for("tests.test_checks.pair")

    assert message.id == "django_tasks.W002"
    assert "return value is annotated tuple[int, int]" in message.msg
    assert "a tuple comes back as a list" in message.msg


def test_warning_hints_at_json_types() -> None:
    [message] = json_warnings_for("tests.test_checks.pair")

    assert message.hint is not None
    assert "Annotate with JSON types" in message.hint


def test_optional_annotation_is_described_readably() -> None:
    [message] = json_warnings_for("tests.test_checks.lookup")

    assert "parameter 'key' is annotated uuid.UUID | None" in message.msg


def test_task_with_json_annotations_is_not_warned_about() -> None:
    assert json_warnings_for("tests.test_checks.clean") == []


def test_context_parameter_is_not_warned_about() -> None:
    assert json_warnings_for("tests.test_checks.with_context") == []


def test_task_without_annotations_is_not_warned_about() -> None:
    assert json_warnings_for("tests.test_checks._unannotated") == []


def test_task_whose_annotations_cannot_be_resolved_is_not_warned_about() -> None:
    assert json_warnings_for("tests.test_checks._unresolvable") == []


def test_each_task_is_warned_about_once_however_often_it_is_redeclared() -> None:
    pair.using(priority=1)  # using() is not a new declaration,
    task(backend="dummy")(pair.func)  # but the decorator applied again is.

    assert len(json_warnings_for("tests.test_checks.pair")) == 1


# Django 6's check command runs every database's checks too (a JSONField's, for one).
@pytest.mark.django_db(databases="__all__")
def test_check_command_shows_the_warnings() -> None:
    stderr = StringIO()

    call_command("check", stdout=StringIO(), stderr=stderr)

    assert "tests.test_checks.remind: (django_tasks.W001)" in stderr.getvalue()
    assert "tests.test_checks.pair: (django_tasks.W002)" in stderr.getvalue()


def test_check_command_can_select_the_tasks_checks() -> None:
    stderr = StringIO()

    call_command("check", tags=["tasks"], stdout=StringIO(), stderr=stderr)

    assert "django_tasks.W002" in stderr.getvalue()
