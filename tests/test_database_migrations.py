"""The database backend's migrations."""

import pytest
from django.core.management import call_command
from django.db import connection

from django_tasks import TaskResultStatus

from . import db_tasks
from .db_support import row_of, run_worker

pytestmark = pytest.mark.django_db(transaction=True)


def notify_triggers() -> int:
    if connection.vendor != "postgresql":
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_trigger WHERE tgname = 'django_tasks_database_notify'"
        )
        [(count,)] = cursor.fetchall()
    return int(count)


def test_the_models_and_migrations_agree() -> None:
    call_command("makemigrations", "django_tasks_database", "--check", "--dry-run", verbosity=0)


def test_the_notify_trigger_exists_on_postgresql_only() -> None:
    assert notify_triggers() == (1 if connection.vendor == "postgresql" else 0)


def test_the_migrations_can_be_reversed_and_applied_again() -> None:
    call_command("migrate", "django_tasks_database", "zero", verbosity=0)
    call_command("migrate", "django_tasks_database", verbosity=0)

    result = db_tasks.add.enqueue(1, 2)
    run_worker()

    assert row_of(result).status == TaskResultStatus.SUCCESSFUL
    assert notify_triggers() == (1 if connection.vendor == "postgresql" else 0)
