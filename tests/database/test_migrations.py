"""The database backend's migrations."""

import re
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from django_tasks import TaskResultStatus
from django_tasks.backends.database.models import DBTaskResult
from django_tasks.backends.database.records import Claimant
from django_tasks.backends.database.sql import statements_for

from .. import db_tasks
from .support import row_of, run_worker

pytestmark = pytest.mark.django_db(transaction=True)


def postgresql_objects() -> tuple[int, int]:
    """How many notify triggers and claim functions the migrations made (PostgreSQL)."""
    if connection.vendor != "postgresql":
        return 0, 0
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM pg_trigger "
            "WHERE tgname = 'django_tasks_database_notify'), "
            "(SELECT count(*) FROM pg_proc WHERE proname = 'django_tasks_database_finish_and_claim')"
        )
        [(triggers, functions)] = cursor.fetchall()
    return int(triggers), int(functions)


EXPECTED_OBJECTS = (1, 1) if connection.vendor == "postgresql" else (0, 0)


def test_the_models_and_migrations_agree() -> None:
    call_command("makemigrations", "django_tasks_database", "--check", "--dry-run", verbosity=0)


def test_the_notify_trigger_and_claim_function_exist_on_postgresql_only() -> None:
    assert postgresql_objects() == EXPECTED_OBJECTS


def test_the_migrations_can_be_reversed_and_applied_again() -> None:
    call_command("migrate", "django_tasks_database", "zero", verbosity=0)
    assert postgresql_objects() == (0, 0)
    call_command("migrate", "django_tasks_database", verbosity=0)

    result = db_tasks.add.enqueue(1, 2)
    run_worker()

    assert row_of(result).status == TaskResultStatus.SUCCESSFUL
    assert postgresql_objects() == EXPECTED_OBJECTS


def index_columns() -> dict[str, list[str]]:
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, DBTaskResult._meta.db_table)
    return {name: list(info["columns"]) for name, info in found.items() if info["index"]}


def test_the_claim_index_holds_ready_tasks_only_where_the_database_can() -> None:
    columns = index_columns()["django_tasks_queue_ready_idx"]
    order = ["queue_name", "priority", "available_at", "enqueued_at"]
    if connection.features.supports_partial_indexes:
        assert columns == order
        assert index_condition("django_tasks_queue_ready_idx") == "status = 'READY'"
    else:  # MySQL and MariaDB: status first instead.
        assert columns == ["status", *order]


def test_the_indexes_of_running_and_finished_tasks() -> None:
    columns = index_columns()
    partial = connection.features.supports_partial_indexes
    assert columns["django_tasks_running_idx"] == [
        *([] if partial else ["status"]),
        "lease_expires_at",
    ]
    assert columns["django_tasks_finished_idx"] == [*([] if partial else ["status"]), "finished_at"]
    if partial:
        assert index_condition("django_tasks_finished_idx") in (
            "status IN 'SUCCESSFUL', 'FAILED'",  # SQLite
            "status = ANY ARRAY'SUCCESSFUL', 'FAILED'",  # PostgreSQL
        )


def index_condition(name: str) -> str:
    """The WHERE clause of a partial index, as the database tells it."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [name])
        else:
            cursor.execute("SELECT sql FROM sqlite_master WHERE name = %s", [name])
        [(definition,)] = cursor.fetchall()
    # Without the quoting and casts, which differ by database.
    return re.sub(r'[()"\[\]]|::\w+( varying)?', "", str(definition).split(" WHERE ", 1)[1])


@pytest.mark.parametrize("queues", [None, ("default",)])
def test_the_claim_query_uses_the_ready_indexes(queues: tuple[str, ...] | None) -> None:
    claimant = Claimant(
        worker_id="w",
        backend_name="database",
        queue_names=None if queues is None else frozenset(queues),
        lease=timedelta(seconds=60),
    )
    statements = statements_for(connection.alias, DBTaskResult)
    sql = statements.select_ready(claimant)
    params = statements.select_ready_params(claimant, timezone.now())
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The statement PostgreSQL runs to claim for free slots (the function that
            # claims one at a time plans the same SELECT inside PL/pgSQL, out of EXPLAIN's
            # reach). EXPLAIN alone does not run the UPDATE.
            cursor.execute("SET LOCAL enable_seqscan = off")
            sql = statements.claim_ready(claimant)
            params = statements.claim_ready_params(claimant, timezone.now(), limit=4)
            cursor.execute(f"EXPLAIN {sql}", params)
        elif connection.vendor == "mysql":
            # Its planner picks a table scan on a table this small: the index must at
            # least be one it could use (possible_keys).
            cursor.execute(f"EXPLAIN {sql}", params)
        else:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        plan = " ".join(str(line) for line in cursor.fetchall())
    expected = "django_tasks_ready_idx" if queues is None else "django_tasks_queue_ready_idx"
    assert expected in plan


def model_at(migration: str) -> Any:
    """The task model as it was after `migration` (of this app)."""
    state = MigrationExecutor(connection).loader.project_state(
        [("django_tasks_database", migration)]
    )
    return state.apps.get_model("django_tasks_database", "DBTaskResult")


def test_the_errors_migration_moves_a_rows_error_into_its_list_and_back() -> None:
    call_command("migrate", "django_tasks_database", "0005", verbosity=0)
    try:
        old = model_at("0005_dbschedule")
        now = timezone.now()
        row = {"backend_name": "database", "enqueued_at": now, "available_at": now}
        failed = old.objects.create(
            **row,
            task_path="tests.db_tasks.fail",
            status="FAILED",
            worker_ids=["w-1"],
            exception_class_path="builtins.ValueError",
            traceback="Traceback (most recent call last):\nValueError: no\n",
        )
        succeeded = old.objects.create(**row, task_path="tests.db_tasks.add", status="SUCCESSFUL")

        call_command("migrate", "django_tasks_database", "0006", verbosity=0)
        assert postgresql_objects() == EXPECTED_OBJECTS

        assert DBTaskResult.objects.get(pk=failed.pk).errors == [
            {
                "exception_class_path": "builtins.ValueError",
                "traceback": "Traceback (most recent call last):\nValueError: no\n",
            }
        ]
        assert DBTaskResult.objects.get(pk=succeeded.pk).errors == []
        [error] = db_tasks.fail.get_result(str(failed.pk)).errors
        assert error.exception_class is ValueError

        DBTaskResult.objects.filter(pk=failed.pk).update(
            errors=[
                {"exception_class_path": "builtins.ValueError", "traceback": "first\n"},
                {"exception_class_path": "builtins.KeyError", "traceback": "latest\n"},
            ]
        )
        call_command("migrate", "django_tasks_database", "0005", verbosity=0)
        assert postgresql_objects() == EXPECTED_OBJECTS

        back = model_at("0005_dbschedule")
        assert back.objects.values_list("exception_class_path", "traceback").get(pk=failed.pk) == (
            "builtins.KeyError",
            "latest\n",
        )
        assert back.objects.values_list("exception_class_path", "traceback").get(
            pk=succeeded.pk
        ) == ("", "")
    finally:
        call_command("migrate", "django_tasks_database", verbosity=0)
