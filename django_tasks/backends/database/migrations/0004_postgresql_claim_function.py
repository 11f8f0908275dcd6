"""
On PostgreSQL, one function stores a worker's outcome and claims its next task:
django_tasks_database_finish_and_claim(). PL/pgSQL keeps the plans of the statements
in it for the life of the connection, so a worker does not pay for planning them on
every task, as it would for the same statements sent as text (Django does not prepare
statements). DBTaskResultManager.claim_next() and finish() call it.

Its result is one row: 1 if the outcome was stored (0 if not, or if there was none to
store), then the claimed task's columns, or NULLs if none was ready.
A migration that changes the table must replace the function too.
"""

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

CREATE = """
CREATE FUNCTION django_tasks_database_finish_and_claim(
    finish_id uuid,  -- NULL: no outcome to store.
    finish_status text,
    finish_at timestamptz,
    finish_return_value jsonb,
    finish_exception_class_path text,  -- NULL: keep the row's (a success).
    finish_traceback text,
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
    exception_class_path text,
    traceback text
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
            exception_class_path = COALESCE(finish_exception_class_path, t.exception_class_path),
            traceback = COALESCE(finish_traceback, t.traceback),
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
            t.worker_ids, t.return_value, t.exception_class_path, t.traceback;
        RETURN;
    END IF;

    RETURN QUERY SELECT stored, NULL::uuid, NULL::text, NULL::varchar, NULL::smallint,
        NULL::jsonb, NULL::jsonb, NULL::timestamptz, NULL::timestamptz, NULL::timestamptz,
        NULL::timestamptz, NULL::timestamptz, NULL::jsonb, NULL::jsonb, NULL::text, NULL::text;
END
$$ LANGUAGE plpgsql;
"""

DROP = """
DROP FUNCTION IF EXISTS django_tasks_database_finish_and_claim(
    uuid, text, timestamptz, jsonb, text, text, text, text, text[], timestamptz, timestamptz
);
"""


def create_function(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop_function(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("django_tasks_database", "0003_status_indexes")]

    operations = [migrations.RunPython(create_function, drop_function)]
