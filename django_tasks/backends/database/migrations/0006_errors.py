"""
A task keeps every failed attempt's error, oldest first, in one JSON list (`errors`),
where it kept the latest one's in two columns (`exception_class_path`, `traceback`):
the existing errors move into the list (and back, reversed: the latest one). A retried
task is due again at a time of its own, so the PostgreSQL function of migration 0004
gives way to one that stores that too.

The new function's result is one row: 1 if the outcome was stored (0 if not, or if
there was none to store), then the claimed task's columns, or NULLs if none was ready.
A migration that changes the table must replace the function too.
"""

from collections.abc import Callable
from importlib import import_module
from typing import Any, cast

from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

_0004 = import_module(f"{__package__}.0004_postgresql_claim_function")

# Rows written per UPDATE while moving errors.
BATCH = 1000

CREATE = """
CREATE FUNCTION django_tasks_database_finish_and_claim(
    finish_id uuid,  -- NULL: no outcome to store.
    finish_status text,
    finish_at timestamptz,  -- NULL for an attempt to be retried.
    finish_return_value jsonb,
    finish_errors jsonb,  -- Every attempt's error; NULL: keep the row's (a success).
    finish_retry_at timestamptz,  -- When a retried task is due; NULL: not retried.
    worker text,
    backend text,
    queues text[],  -- NULL: every queue.
    claim_at timestamptz,
    lease_until timestamptz
) RETURNS TABLE (
    finished integer,
    id uuid,
    task_path text,
    queue_name varchar,
    priority smallint,
    args jsonb,
    kwargs jsonb,
    enqueued_at timestamptz,
    run_after timestamptz,
    available_at timestamptz,
    started_at timestamptz,
    finished_at timestamptz,
    worker_ids jsonb,
    return_value jsonb,
    errors jsonb
) AS $$
DECLARE
    stored integer := 0;
    next_id uuid;
BEGIN
    IF finish_id IS NOT NULL THEN
        -- Only while the worker still holds the task: its lease may have been reclaimed.
        UPDATE django_tasks_database_dbtaskresult AS t SET
            status = finish_status,
            finished_at = finish_at,
            return_value = finish_return_value,
            errors = COALESCE(finish_errors, t.errors),
            available_at = COALESCE(finish_retry_at, t.available_at),
            run_after = COALESCE(finish_retry_at, t.run_after),
            claimed_by = '',
            lease_expires_at = NULL
        WHERE t.id = finish_id AND t.status = 'RUNNING' AND t.claimed_by = worker
            AND t.backend_name = backend;
        GET DIAGNOSTICS stored = ROW_COUNT;
    END IF;

    -- One statement per shape of the queue filter, so that each keeps a plan that reads
    -- the claim index in order.
    IF queues IS NULL THEN
        SELECT t.id INTO next_id FROM django_tasks_database_dbtaskresult AS t
        WHERE t.status = 'READY' AND t.backend_name = backend AND t.available_at <= claim_at
        ORDER BY t.priority DESC, t.available_at, t.enqueued_at
        LIMIT 1 FOR UPDATE SKIP LOCKED;
    ELSIF cardinality(queues) = 1 THEN
        SELECT t.id INTO next_id FROM django_tasks_database_dbtaskresult AS t
        WHERE t.status = 'READY' AND t.backend_name = backend
            AND t.queue_name = queues[1] AND t.available_at <= claim_at
        ORDER BY t.priority DESC, t.available_at, t.enqueued_at
        LIMIT 1 FOR UPDATE SKIP LOCKED;
    ELSE
        SELECT t.id INTO next_id FROM django_tasks_database_dbtaskresult AS t
        WHERE t.status = 'READY' AND t.backend_name = backend
            AND t.queue_name = ANY(queues) AND t.available_at <= claim_at
        ORDER BY t.priority DESC, t.available_at, t.enqueued_at
        LIMIT 1 FOR UPDATE SKIP LOCKED;
    END IF;

    IF next_id IS NOT NULL THEN
        RETURN QUERY
        UPDATE django_tasks_database_dbtaskresult AS t SET
            status = 'RUNNING',
            claimed_by = worker,
            lease_expires_at = lease_until,
            last_attempted_at = claim_at,
            started_at = COALESCE(t.started_at, claim_at),
            worker_ids = t.worker_ids || jsonb_build_array(worker)
        WHERE t.id = next_id
        RETURNING stored, t.id, t.task_path, t.queue_name, t.priority, t.args, t.kwargs,
            t.enqueued_at, t.run_after, t.available_at, t.started_at, t.finished_at,
            t.worker_ids, t.return_value, t.errors;
        RETURN;
    END IF;

    RETURN QUERY SELECT stored, NULL::uuid, NULL::text, NULL::varchar, NULL::smallint,
        NULL::jsonb, NULL::jsonb, NULL::timestamptz, NULL::timestamptz, NULL::timestamptz,
        NULL::timestamptz, NULL::timestamptz, NULL::jsonb, NULL::jsonb, NULL::jsonb;
END
$$ LANGUAGE plpgsql;
"""

DROP = """
DROP FUNCTION IF EXISTS django_tasks_database_finish_and_claim(
    uuid, text, timestamptz, jsonb, jsonb, timestamptz, text, text, text[], timestamptz,
    timestamptz
);
"""


def _on_postgresql(sql: str) -> Any:
    def run(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


def errors_into_list(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    """Each row's error, if it has one, becomes its list of one."""
    model = apps.get_model("django_tasks_database", "DBTaskResult")
    failed = model.objects.using(schema_editor.connection.alias).exclude(
        exception_class_path="", traceback=""
    )

    def into_list(row: Any) -> None:
        row.errors = [
            {"exception_class_path": row.exception_class_path, "traceback": row.traceback}
        ]

    _in_batches(failed.only("id", "exception_class_path", "traceback"), ["errors"], into_list)


def latest_error_from_list(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    """Each row keeps the latest error of its list (the older ones go)."""
    model = apps.get_model("django_tasks_database", "DBTaskResult")
    failed = model.objects.using(schema_editor.connection.alias).exclude(errors=[])

    def from_list(row: Any) -> None:
        errors: object = row.errors
        entries = cast(list[object], errors) if isinstance(errors, list) else []
        last: object = entries[-1] if entries else None
        if isinstance(last, dict):
            fields = cast(dict[str, object], last)
            row.exception_class_path = str(fields.get("exception_class_path", ""))
            row.traceback = str(fields.get("traceback", ""))

    _in_batches(failed.only("id", "errors"), ["exception_class_path", "traceback"], from_list)


def _in_batches(rows: Any, fields: list[str], change: Callable[[Any], None]) -> None:
    """change() each row, and store its `fields`, BATCH rows per UPDATE."""
    manager = rows.model.objects.using(rows.db)
    batch: list[Any] = []
    for row in rows.iterator(chunk_size=BATCH):
        change(row)
        batch.append(row)
        if len(batch) == BATCH:
            manager.bulk_update(batch, fields)
            batch = []
    if batch:
        manager.bulk_update(batch, fields)


class Migration(migrations.Migration):
    dependencies = [("django_tasks_database", "0005_dbschedule")]

    operations = [
        # The function of 0004 reads the columns that go.
        migrations.RunPython(_on_postgresql(_0004.DROP), _on_postgresql(_0004.CREATE)),
        migrations.AddField(
            model_name="dbtaskresult",
            name="errors",
            field=models.JSONField(blank=True, default=list, verbose_name="errors"),
        ),
        migrations.RunPython(errors_into_list, latest_error_from_list),
        migrations.RemoveField(model_name="dbtaskresult", name="exception_class_path"),
        migrations.RemoveField(model_name="dbtaskresult", name="traceback"),
        migrations.RunPython(_on_postgresql(CREATE), _on_postgresql(DROP)),
    ]
