"""`@task` builds the backend's `task_class`, as Django's decorator does."""

from dataclasses import dataclass, replace

import pytest
from pytest_django import Settings

from django_tasks import Task, task
from django_tasks.backends.immediate import ImmediateBackend


@dataclass(frozen=True, kw_only=True)
class AuditedTask(Task[..., object]):
    """A backend's own task class, with an extra option that has a default."""

    audit_label: str = "unlabelled"


class AuditingBackend(ImmediateBackend):
    task_class = AuditedTask


@pytest.fixture(autouse=True)
def auditing_backend(settings: Settings) -> None:
    settings.TASKS = {
        "default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"},
        "auditing": {
            "BACKEND": "tests.test_task_class.AuditingBackend",
            "ENQUEUE_ON_COMMIT": False,
        },
    }


def double(value: int) -> int:
    return value * 2


def test_the_decorator_builds_the_backends_task_class() -> None:
    declared = task(backend="auditing")(double)

    assert isinstance(declared, AuditedTask)
    assert declared.audit_label == "unlabelled"


def test_the_decorator_builds_our_task_class_for_a_backend_without_its_own() -> None:
    assert type(task(double)) is Task


def test_a_task_class_takes_its_extra_options_when_built_directly() -> None:
    labelled = AuditedTask(func=double, backend="auditing", audit_label="billing")

    assert labelled.audit_label == "billing"
    assert labelled.enqueue(21).return_value == 42


def test_a_task_the_decorator_built_takes_extra_options_through_replace() -> None:
    declared = task(backend="auditing")(double)
    assert isinstance(declared, AuditedTask)

    assert replace(declared, audit_label="billing").audit_label == "billing"


def test_using_keeps_the_task_class_and_its_options() -> None:
    labelled = AuditedTask(func=double, backend="auditing", audit_label="billing")

    moved = labelled.using(priority=5)

    assert isinstance(moved, AuditedTask)
    assert moved.audit_label == "billing"
