from argparse import ArgumentParser, ArgumentTypeError
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from django_tasks.backends.database.models import DBTaskResult
from django_tasks.base import DEFAULT_TASK_BACKEND_ALIAS, DEFAULT_TASK_QUEUE_NAME

from ..arguments import database_backend, queue_names


class Command(BaseCommand):
    help = "Delete the finished results of a database task backend once they are old enough."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--backend",
            default=DEFAULT_TASK_BACKEND_ALIAS,
            type=database_backend,
            dest="backend_name",
            help="The alias of the database backend in TASKS (default: %(default)s).",
        )
        parser.add_argument(
            "--queue-name",
            default=DEFAULT_TASK_QUEUE_NAME,
            type=queue_names,
            help="The queues to prune, separated by commas, or '*' for all (default: %(default)s).",
        )
        parser.add_argument(
            "--min-age-days",
            default=14,
            type=days,
            help="Delete results that finished at least this many days ago (default: %(default)s).",
        )
        parser.add_argument(
            "--failed-min-age-days",
            default=None,
            type=days,
            help="The same for FAILED results (default: --min-age-days).",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Count the results that would be deleted; delete nothing.",
        )

    def handle(
        self,
        *,
        backend_name: str,
        queue_name: frozenset[str] | None,
        min_age_days: int,
        failed_min_age_days: int | None,
        dry_run: bool,
        **options: Any,
    ) -> None:
        now = timezone.now()
        if failed_min_age_days is None:
            failed_min_age_days = min_age_days
        count = DBTaskResult.objects.prune(
            backend_name=backend_name,
            queue_names=queue_name,
            successful_before=now - timedelta(days=min_age_days),
            failed_before=now - timedelta(days=failed_min_age_days),
            dry_run=dry_run,
        )
        noun = "task result" if count == 1 else "task results"
        if dry_run:
            self.stdout.write(f"Would delete {count} {noun}.")
        else:
            self.stdout.write(f"Deleted {count} {noun}.")


def days(value: str) -> int:
    try:
        count = int(value)
    except ValueError:
        raise ArgumentTypeError(f"{value!r} is not a whole number of days.") from None
    if count < 0:
        raise ArgumentTypeError(f"{value!r} is not a number of days >= 0.")
    return count
