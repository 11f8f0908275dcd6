"""
On PostgreSQL, a statement-level trigger NOTIFYs the channel django_tasks_database
whenever tasks are inserted, so that idle workers wake at once (see EnqueueListener).
Enqueueing stays one INSERT; the notification is delivered when it commits.
Other databases have no such thing: their workers poll.
"""

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

CREATE = """
CREATE FUNCTION django_tasks_database_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('django_tasks_database', '');
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER django_tasks_database_notify
AFTER INSERT ON django_tasks_database_dbtaskresult
FOR EACH STATEMENT EXECUTE FUNCTION django_tasks_database_notify();
"""

DROP = """
DROP TRIGGER IF EXISTS django_tasks_database_notify ON django_tasks_database_dbtaskresult;
DROP FUNCTION IF EXISTS django_tasks_database_notify();
"""


def create_trigger(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop_trigger(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("django_tasks_database", "0001_initial")]

    operations = [migrations.RunPython(create_trigger, drop_trigger)]
