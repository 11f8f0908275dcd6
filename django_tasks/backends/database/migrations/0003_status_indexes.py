"""
The claim indexes hold READY tasks only, and RUNNING and finished tasks get indexes of
their own (for reclaiming lost tasks and pruning): see StatusIndex.
"""

from django.db import migrations

import django_tasks.backends.database.models


class Migration(migrations.Migration):
    dependencies = [
        ("django_tasks_database", "0002_postgresql_notify"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="dbtaskresult",
            name="django_tasks_claim_idx",
        ),
        migrations.RemoveIndex(
            model_name="dbtaskresult",
            name="django_tasks_queue_claim_idx",
        ),
        migrations.AddIndex(
            model_name="dbtaskresult",
            index=django_tasks.backends.database.models.StatusIndex(
                fields=["-priority", "available_at", "enqueued_at"],
                name="django_tasks_ready_idx",
                statuses=["READY"],
            ),
        ),
        migrations.AddIndex(
            model_name="dbtaskresult",
            index=django_tasks.backends.database.models.StatusIndex(
                fields=["queue_name", "-priority", "available_at", "enqueued_at"],
                name="django_tasks_queue_ready_idx",
                statuses=["READY"],
            ),
        ),
        migrations.AddIndex(
            model_name="dbtaskresult",
            index=django_tasks.backends.database.models.StatusIndex(
                fields=["lease_expires_at"], name="django_tasks_running_idx", statuses=["RUNNING"]
            ),
        ),
        migrations.AddIndex(
            model_name="dbtaskresult",
            index=django_tasks.backends.database.models.StatusIndex(
                fields=["finished_at"],
                name="django_tasks_finished_idx",
                statuses=["SUCCESSFUL", "FAILED"],
            ),
        ),
    ]
