"""
The task table (DBTaskResult) and its manager, which runs every query on it that the
backend and the worker need: enqueue, claim, finish, lease renewal, reclaiming tasks of
lost workers, pruning. The worker gets TaskResults from it, never rows (rows.py translates).
The hot statements are written in sql.py; nothing else writes SQL.
DBSchedule, each periodic schedule's last tick, is in schedule_models.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Sequence
from contextlib import nullcontext
from datetime import datetime, timedelta
from typing import Any

from django.db import DatabaseError, models, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.backends.ddl_references import Statement
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ...base import (
    DEFAULT_TASK_PRIORITY,
    DEFAULT_TASK_QUEUE_NAME,
    TASK_MAX_PRIORITY,
    TASK_MIN_PRIORITY,
    TaskResultStatus,
)
from .records import MAX_NAME_LENGTH, Claimant, Claimed, NewTask, Outcome, StaleTask
from .rows import claimed_from_row
from .schedule_models import DBSchedule, DBScheduleManager
from .sql import CLAIM_ORDER, Statements, statements_for, write_transaction

__all__ = ["DBSchedule", "DBScheduleManager", "DBTaskResult", "DBTaskResultManager"]

FINISHED_STATUSES = (TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED)


class DBTaskResultQuerySet(models.QuerySet["DBTaskResult"]):
    def ready(self, now: datetime | None = None) -> DBTaskResultQuerySet:
        """READY tasks that are due, in the order workers claim them."""
        return self.filter(
            status=TaskResultStatus.READY, available_at__lte=now or timezone.now()
        ).order_by(*CLAIM_ORDER)

    def running(self) -> DBTaskResultQuerySet:
        return self.filter(status=TaskResultStatus.RUNNING)

    def finished(self) -> DBTaskResultQuerySet:
        return self.filter(status__in=FINISHED_STATUSES)

    def for_queues(self, queue_names: Collection[str] | None) -> DBTaskResultQuerySet:
        """Tasks on these queues; None means every queue."""
        if queue_names is None:
            return self
        return self.filter(queue_name__in=sorted(queue_names))


class DBTaskResultManager(models.Manager["DBTaskResult"]):
    def get_queryset(self) -> DBTaskResultQuerySet:
        return DBTaskResultQuerySet(self.model, using=self._db)

    def ready(self, now: datetime | None = None) -> DBTaskResultQuerySet:
        return self.get_queryset().ready(now)

    def running(self) -> DBTaskResultQuerySet:
        return self.get_queryset().running()

    def finished(self) -> DBTaskResultQuerySet:
        return self.get_queryset().finished()

    # --- the worker's side ----------------------------------------------------------

    def claim_next(self, claimant: Claimant, now: datetime | None = None) -> Claimed | None:
        """
        Claim the next ready task: mark it RUNNING for a new attempt by the claimant,
        with a lease that expires unless renewed. Returns its TaskResult (Unrunnable if
        the row cannot run), or None if none is ready.
        """
        now = now or timezone.now()
        using = self._write_db()
        sql = statements_for(using, self.model)
        if sql.postgresql:  # One call.
            return self._finish_and_claim(sql, None, claimant, now)[1]
        with write_transaction(using):
            rows = self._claim_in_transaction(sql, claimant, now)
        return claimed_from_row(rows[0]) if rows else None

    def finish(
        self, outcome: Outcome, claimant: Claimant, *, claim_next: bool = False
    ) -> tuple[bool, Claimed | None]:
        """
        Store the outcome of the claimant's attempt, and claim its next task in the same
        transaction if `claim_next`. The outcome is stored only if the claimant still
        holds the task (its lease was not reclaimed): the first value says whether it was.
        """
        using = self._write_db()
        sql = statements_for(using, self.model)
        now = outcome.finished_at
        if claim_next and sql.postgresql:  # One call: one round trip, one commit.
            return self._finish_and_claim(sql, outcome, claimant, now)
        with write_transaction(using) if claim_next else nullcontext():
            with sql.cursor() as cursor:
                cursor.execute(sql.finish(outcome), sql.finish_params(outcome, claimant))
                stored = cursor.rowcount == 1
            if not claim_next:
                return stored, None
            rows = self._claim_in_transaction(sql, claimant, now)
        return stored, claimed_from_row(rows[0]) if rows else None

    def claim_up_to(
        self, claimant: Claimant, count: int, now: datetime | None = None
    ) -> list[Claimed]:
        """
        Claim up to `count` ready tasks at once, as claim_next() claims one (a worker
        with several free slots); returned in claim order. One statement on PostgreSQL.
        """
        now = now or timezone.now()
        using = self._write_db()
        sql = statements_for(using, self.model)
        if sql.postgresql:
            with sql.cursor() as cursor:
                cursor.execute(
                    sql.claim_ready(claimant), sql.claim_ready_params(claimant, now, count)
                )
                names = sql.claim_ready_columns
                rows = [sql.claimed(names, found, claimant, now) for found in cursor.fetchall()]
        else:
            with write_transaction(using):
                rows = self._claim_in_transaction(sql, claimant, now, count)
        return [claimed_from_row(row) for row in rows]

    def renew_leases(
        self, ids: Collection[str], claimant: Claimant, now: datetime | None = None
    ) -> int:
        """Extend the leases of the tasks the claimant is running (its heartbeat): one UPDATE."""
        now = now or timezone.now()
        return (
            self._held_by(claimant)
            .using(self._write_db())
            .filter(pk__in=list(ids))
            .update(lease_expires_at=now + claimant.lease)
        )

    def expire_leases(self, claimant: Claimant, now: datetime | None = None) -> int:
        """
        End the leases of every task the claimant holds (a worker that must exit with
        tasks still running): the next look for lost tasks, by any worker, takes them back.
        """
        return (
            self._held_by(claimant)
            .using(self._write_db())
            .update(lease_expires_at=(now or timezone.now()) - timedelta(microseconds=1))
        )

    def reclaim_stale(
        self,
        backend_name: str,
        decide: Callable[[DBTaskResult, datetime], Outcome],
        now: datetime | None = None,
    ) -> list[StaleTask]:
        """
        Take back RUNNING tasks whose worker let the lease expire: store, as that
        attempt's outcome, what `decide` makes of the row (READY to run again, or FAILED,
        with WorkerLost as the attempt's error: see backend.lost_outcome). Returns the
        tasks taken back.
        """
        now = now or timezone.now()
        using = self._write_db()
        stale = (
            self.get_queryset()
            .using(using)
            .filter(
                Q(lease_expires_at__lt=now) | Q(lease_expires_at__isnull=True),
                status=TaskResultStatus.RUNNING,
                backend_name=backend_name,
            )
        )
        sql = statements_for(using, self.model)
        found: list[StaleTask] = []
        # No lock, and no transaction: `decide` runs a task's backoff, which is the
        # project's code (two workers may both call it for one task; one stores). Each
        # outcome is stored on behalf of the worker that lost the task, only if its
        # lease is still the expired one read here: a worker that renewed it meanwhile,
        # or another that took it back first, keeps it.
        for row in stale.order_by():  # The usual case: none, in one indexed query.
            outcome = decide(row, now)
            lost_by = Claimant(
                worker_id=row.claimed_by,
                backend_name=backend_name,
                queue_names=None,
                lease=timedelta(0),
            )
            try:
                with sql.cursor() as cursor:
                    cursor.execute(*sql.finish_lost(outcome, lost_by, row.lease_expires_at))
                    taken_back = cursor.rowcount == 1
            except DatabaseError:
                if not found:
                    raise
                break  # Say what was taken back; the next look deals with the rest.
            if taken_back:
                found.append(
                    StaleTask(
                        id=row.id,
                        task_path=row.task_path,
                        worker_id=row.claimed_by,
                        outcome=outcome,
                    )
                )
        return found

    # --- housekeeping ---------------------------------------------------------------

    def retry(self, ids: Collection[uuid.UUID], now: datetime | None = None) -> int:
        """
        Make these tasks, those of them that are FAILED, READY and due now: the next claim
        is a new attempt, recorded as such (its errors and worker ids are kept). Returns
        how many.
        """
        now = now or timezone.now()
        return (
            self.get_queryset()
            .using(self._write_db())
            .filter(pk__in=list(ids), status=TaskResultStatus.FAILED)
            .update(
                status=TaskResultStatus.READY,
                run_after=now,
                available_at=now,
                finished_at=None,
                return_value=None,
            )
        )

    def prune(
        self,
        *,
        backend_name: str,
        queue_names: Collection[str] | None,
        successful_before: datetime,
        failed_before: datetime,
        dry_run: bool = False,
    ) -> int:
        """Delete finished results older than the cut-offs; return how many (would) go."""
        old = (
            self.get_queryset()
            .using(self._write_db())
            .filter(backend_name=backend_name)
            .finished()  # Repeats the index's condition: SQLite then uses it.
            .for_queues(queue_names)
            .filter(
                Q(status=TaskResultStatus.SUCCESSFUL, finished_at__lt=successful_before)
                | Q(status=TaskResultStatus.FAILED, finished_at__lt=failed_before)
            )
        )
        if dry_run:
            return old.count()
        deleted, _by_model = old.delete()
        return deleted

    def insert(self, tasks: Sequence[NewTask], using: str | None = None) -> None:
        """Write new tasks: one INSERT (several for thousands of tasks, in one transaction)."""
        using = using or self._write_db()
        sql = statements_for(using, self.model)
        chunks = [tasks[i : i + sql.insert_chunk] for i in range(0, len(tasks), sql.insert_chunk)]
        several = transaction.atomic(using=using) if len(chunks) > 1 else nullcontext()
        with several, sql.cursor() as cursor:
            for chunk in chunks:
                cursor.execute(sql.insert(len(chunk)), sql.insert_params(chunk))

    # --- internals ------------------------------------------------------------------

    def _write_db(self) -> str:
        return self._db or router.db_for_write(self.model)

    def _held_by(self, claimant: Claimant) -> DBTaskResultQuerySet:
        return self.get_queryset().filter(
            status=TaskResultStatus.RUNNING,
            claimed_by=claimant.worker_id,
            backend_name=claimant.backend_name,
        )

    def _claim_in_transaction(
        self, sql: Statements, claimant: Claimant, now: datetime, count: int = 1
    ) -> list[DBTaskResult]:
        # Select (locking the rows, skipping rows other workers have locked), then update.
        with sql.cursor() as cursor:
            cursor.execute(
                sql.select_ready(claimant, count), sql.select_ready_params(claimant, now)
            )
            found = cursor.fetchall()
        rows = [sql.model_from_row(sql.columns, values) for values in found]
        for row in rows:
            with sql.cursor() as cursor:
                cursor.execute(sql.mark_claimed, sql.claim_row(row, claimant, now))
        return rows

    def _finish_and_claim(
        self,
        sql: Statements,
        outcome: Outcome | None,
        claimant: Claimant,
        now: datetime,
    ) -> tuple[bool, Claimed | None]:
        # PostgreSQL: the function of migration 0006.
        with sql.cursor() as cursor:
            cursor.execute(
                sql.FINISH_AND_CLAIM, sql.finish_and_claim_params(outcome, claimant, now)
            )
            [(finished, *claimed)] = cursor.fetchall()
            names = sql.claim_returns(cursor)
        nothing_claimed = claimed[0] is None  # The id.
        if nothing_claimed:
            return finished == 1, None
        return finished == 1, claimed_from_row(sql.claimed(names, claimed, claimant, now))


class StatusIndex(models.Index):
    """
    An index of the tasks in some statuses only. Where the database has partial indexes
    (PostgreSQL, SQLite) it is one, WHERE status IN (...): a row leaves it when its status
    changes, so the claim query reads no finished tasks, and PostgreSQL can drop their
    entries at once. Elsewhere (MySQL, MariaDB) it indexes status first, then the fields.
    """

    def __init__(self, *, statuses: Sequence[str], fields: Sequence[str], name: str) -> None:
        super().__init__(fields=fields, name=name)
        self.statuses = tuple(str(status) for status in statuses)

    def deconstruct(self) -> tuple[str, Sequence[Any], dict[str, Any]]:
        path, args, kwargs = super().deconstruct()
        return path, args, {**kwargs, "statuses": list(self.statuses)}

    def create_sql(
        self,
        model: type[models.Model],
        schema_editor: BaseDatabaseSchemaEditor,
        using: str = "",
        **kwargs: Any,
    ) -> Statement:
        return self.for_database(schema_editor.connection).create_sql(
            model, schema_editor, using, **kwargs
        )

    def for_database(self, connection: BaseDatabaseWrapper) -> models.Index:
        """The plain Index this one is on `connection`'s database."""
        if not connection.features.supports_partial_indexes:
            return models.Index(fields=["status", *self.fields], name=self.name)
        [*others, last] = self.statuses
        condition = Q(status__in=self.statuses) if others else Q(status=last)
        return models.Index(fields=self.fields, name=self.name, condition=condition)


class StoredJSONField(models.JSONField):
    """
    Django's JSONField (its migrations say so), reading any bytes without raising: JSON
    nested too deep for Python's decoder comes back as its text, as Django already gives
    back text that is not JSON, so that one hostile row cannot crash what reads it.
    """

    def from_db_value(self, value: Any, expression: Any, connection: BaseDatabaseWrapper) -> Any:
        try:
            return super().from_db_value(value, expression, connection)
        except RecursionError:
            return value

    def deconstruct(self) -> tuple[str, str, Sequence[Any], dict[str, Any]]:
        name, _path, args, kwargs = super().deconstruct()
        return name, "django.db.models.JSONField", args, kwargs


class DBTaskResult(models.Model):
    """One enqueued task and, once it has run, its outcome."""

    id: models.UUIDField[uuid.UUID | str, uuid.UUID] = models.UUIDField(
        primary_key=True, default=uuid.uuid4, editable=False
    )
    status: models.CharField[str, str] = models.CharField(
        _("status"),
        max_length=max(len(value) for value in TaskResultStatus.values),
        choices=TaskResultStatus.choices,
        default=TaskResultStatus.READY,
    )
    task_path: models.TextField[str, str] = models.TextField(_("task path"))
    queue_name: models.CharField[str, str] = models.CharField(
        _("queue name"), max_length=MAX_NAME_LENGTH, default=DEFAULT_TASK_QUEUE_NAME
    )
    backend_name: models.CharField[str, str] = models.CharField(
        _("backend name"), max_length=MAX_NAME_LENGTH
    )
    priority: models.SmallIntegerField[int, int] = models.SmallIntegerField(
        _("priority"), default=DEFAULT_TASK_PRIORITY
    )
    args: StoredJSONField = StoredJSONField(_("args"), default=list)
    kwargs: StoredJSONField = StoredJSONField(_("kwargs"), default=dict)

    enqueued_at: models.DateTimeField[datetime, datetime] = models.DateTimeField(_("enqueued at"))
    run_after: models.DateTimeField[datetime | None, datetime | None] = models.DateTimeField(
        _("run after"), null=True, blank=True
    )
    # When a worker may claim it: run_after, or the enqueue time. Never NULL, so that
    # one index serves the claim query on every database.
    available_at: models.DateTimeField[datetime, datetime] = models.DateTimeField(_("available at"))
    started_at: models.DateTimeField[datetime | None, datetime | None] = models.DateTimeField(
        _("started at"), null=True, blank=True
    )
    last_attempted_at: models.DateTimeField[datetime | None, datetime | None] = (
        models.DateTimeField(_("last attempted at"), null=True, blank=True)
    )
    finished_at: models.DateTimeField[datetime | None, datetime | None] = models.DateTimeField(
        _("finished at"), null=True, blank=True
    )
    worker_ids: StoredJSONField = StoredJSONField(_("worker ids"), default=list)  # One per attempt.

    # Crash recovery: the worker running it now, and until when its claim holds
    # (renewed by that worker's heartbeat; see DBTaskResultManager.reclaim_stale).
    claimed_by: models.CharField[str, str] = models.CharField(
        _("claimed by"), max_length=MAX_NAME_LENGTH, blank=True, default=""
    )
    lease_expires_at: models.DateTimeField[datetime | None, datetime | None] = models.DateTimeField(
        _("lease expires at"), null=True, blank=True
    )

    return_value: StoredJSONField = StoredJSONField(
        _("return value"), null=True, blank=True, default=None
    )
    # One error per failed attempt, oldest first: {"exception_class_path", "traceback"}.
    errors: StoredJSONField = StoredJSONField(_("errors"), default=list, blank=True)

    objects = DBTaskResultManager()

    class Meta:
        verbose_name = _("task result")
        verbose_name_plural = _("task results")
        ordering = CLAIM_ORDER
        indexes = [
            # The claim query, for workers of every queue and of named queues.
            StatusIndex(
                statuses=[TaskResultStatus.READY], fields=CLAIM_ORDER, name="django_tasks_ready_idx"
            ),
            StatusIndex(
                statuses=[TaskResultStatus.READY],
                fields=["queue_name", *CLAIM_ORDER],
                name="django_tasks_queue_ready_idx",
            ),
            # Lost workers' tasks (reclaim_stale), and old results (prune).
            StatusIndex(
                statuses=[TaskResultStatus.RUNNING],
                fields=["lease_expires_at"],
                name="django_tasks_running_idx",
            ),
            StatusIndex(
                statuses=FINISHED_STATUSES, fields=["finished_at"], name="django_tasks_finished_idx"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(priority__gte=TASK_MIN_PRIORITY, priority__lte=TASK_MAX_PRIORITY),
                name="django_tasks_priority_range",
            )
        ]

    def __str__(self) -> str:
        return f"{self.task_path} ({self.id})"
