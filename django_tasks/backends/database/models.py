"""
The task table, and every query the database backend runs on it: enqueue, claim,
finish, lease renewal, reclaiming tasks of lost workers, pruning, and the PostgreSQL
wake-up. The worker and the backend ask this module; they write no SQL of their own.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import threading
import uuid
from collections.abc import Collection, Generator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, cast

from django.db import (
    DatabaseError,
    DataError,
    NotSupportedError,
    ProgrammingError,
    connections,
    models,
    router,
    transaction,
)
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.backends.ddl_references import Statement
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper
from django.db.models import Q, Value
from django.db.models.functions import Concat
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ...base import (
    DEFAULT_TASK_PRIORITY,
    DEFAULT_TASK_QUEUE_NAME,
    TASK_MAX_PRIORITY,
    TASK_MIN_PRIORITY,
    TaskResultStatus,
)
from ...utils import get_module_path
from .backend import MAX_NAME_LENGTH
from .exceptions import WorkerLost

if TYPE_CHECKING:
    import psycopg

# Ready tasks run highest priority first, then the earliest due, then the oldest.
CLAIM_ORDER = ("-priority", "available_at", "enqueued_at")

# The PostgreSQL channel the insert trigger of migration 0002 notifies.
NOTIFY_CHANNEL = "django_tasks_database"

WORKER_LOST_PATH = get_module_path(WorkerLost)

FINISHED_STATUSES = (TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED)


@dataclass(frozen=True, kw_only=True)
class Claimant:
    """A worker asking for tasks: who it is, what it runs, and how long its claims last."""

    worker_id: str
    backend_name: str
    queue_names: frozenset[str] | None  # None: every queue.
    lease: timedelta


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """How one attempt at a claimed task ended."""

    id: uuid.UUID
    status: TaskResultStatus  # SUCCESSFUL or FAILED
    finished_at: datetime
    return_value: Any = None
    # The error, if it FAILED. (A success leaves the error of an earlier attempt.)
    exception_class_path: str = ""
    traceback: str = ""


@dataclass(frozen=True, kw_only=True)
class NewTask:
    """A task to insert (READY, never attempted)."""

    id: uuid.UUID
    task_path: str
    queue_name: str
    backend_name: str
    priority: int
    args: list[Any]
    kwargs: dict[str, Any]
    enqueued_at: datetime
    run_after: datetime | None


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

    def claim_next(self, claimant: Claimant, now: datetime | None = None) -> DBTaskResult | None:
        """
        Claim the next ready task: mark it RUNNING for a new attempt by the claimant,
        with a lease that expires unless renewed. Returns it, or None if none is ready.
        """
        now = now or timezone.now()
        using = self._write_db()
        sql = statements_for(using)
        if sql.postgresql:  # One call.
            return self._finish_and_claim(sql, None, claimant, now)[1]
        with _write_transaction(using):
            return self._claim_in_transaction(sql, claimant, now)

    def finish(
        self, outcome: Outcome, claimant: Claimant, *, claim_next: bool = False
    ) -> tuple[bool, DBTaskResult | None]:
        """
        Store the outcome of the claimant's attempt, and claim its next task in the same
        transaction if `claim_next`. The outcome is stored only if the claimant still
        holds the task (its lease was not reclaimed): the first value says whether it was.
        """
        using = self._write_db()
        sql = statements_for(using)
        now = outcome.finished_at
        if claim_next and sql.postgresql:  # One call: one round trip, one commit.
            return self._finish_and_claim(sql, outcome, claimant, now)
        with _write_transaction(using) if claim_next else nullcontext():
            with sql.cursor() as cursor:
                cursor.execute(sql.finish(outcome), sql.finish_params(outcome, claimant))
                stored = cursor.rowcount == 1
            if not claim_next:
                return stored, None
            return stored, self._claim_in_transaction(sql, claimant, now)

    def renew_lease(self, id: uuid.UUID, claimant: Claimant, now: datetime | None = None) -> bool:
        """Extend the lease of a task the claimant is running (its heartbeat)."""
        now = now or timezone.now()
        renewed = (
            self._held_by(claimant)
            .using(self._write_db())
            .filter(pk=id)
            .update(lease_expires_at=now + claimant.lease)
        )
        return renewed == 1

    def reclaim_stale(
        self, backend_name: str, *, fail: bool, now: datetime | None = None
    ) -> list[StaleTask]:
        """
        Take back RUNNING tasks whose worker let the lease expire: make them READY to
        run again, or FAILED if `fail`, recording WorkerLost as the attempt's error.
        Returns the tasks taken back.
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
        if not stale.exists():  # The usual case, and no lock taken for it.
            return []
        then = (
            "The task was marked FAILED (ON_WORKER_LOST is 'fail')."
            if fail
            else "The task was made READY to run again."
        )
        changes: dict[str, Any] = {
            # First: MySQL assigns in order, and this reads claimed_by before it is cleared.
            "traceback": Concat(
                Value(f"{WORKER_LOST_PATH}: Worker "),
                "claimed_by",
                Value(
                    " stopped renewing its lease on this task (it was killed, crashed or "
                    f"lost the database) and the lease expired. {then}\n"
                ),
                output_field=models.TextField(),
            ),
            "exception_class_path": WORKER_LOST_PATH,
            "status": TaskResultStatus.FAILED if fail else TaskResultStatus.READY,
            "claimed_by": "",
            "lease_expires_at": None,
        }
        if fail:
            changes["finished_at"] = now
        with _write_transaction(using):
            # Locked, so that none of them is finished between the SELECT and the UPDATE.
            locked = stale
            if connections[using].features.has_select_for_update_skip_locked:
                locked = stale.select_for_update(skip_locked=True)
            found = [
                StaleTask(id=id, task_path=task_path, worker_id=worker_id)
                for id, task_path, worker_id in locked.values_list("id", "task_path", "claimed_by")
            ]
            stale.filter(pk__in=[task.id for task in found]).update(**changes)
        return found

    # --- housekeeping ---------------------------------------------------------------

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
        sql = statements_for(using)
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
        self, sql: _Statements, claimant: Claimant, now: datetime
    ) -> DBTaskResult | None:
        # Select (locking the row, skipping rows other workers have locked), then update.
        with sql.cursor() as cursor:
            cursor.execute(sql.select_ready(claimant), sql.select_ready_params(claimant, now))
            found = cursor.fetchone()
        if found is None:
            return None
        row = sql.model_from_row(sql.columns, found)
        worker_ids: object = row.worker_ids
        previous = cast(list[object], worker_ids) if isinstance(worker_ids, list) else []
        row.status = TaskResultStatus.RUNNING
        row.claimed_by = claimant.worker_id
        row.lease_expires_at = now + claimant.lease
        row.last_attempted_at = now
        row.started_at = row.started_at or now
        row.worker_ids = [*previous, claimant.worker_id]
        with sql.cursor() as cursor:
            cursor.execute(sql.mark_claimed, sql.mark_claimed_params(row))
        return row

    def _finish_and_claim(
        self,
        sql: _Statements,
        outcome: Outcome | None,
        claimant: Claimant,
        now: datetime,
    ) -> tuple[bool, DBTaskResult | None]:
        # PostgreSQL: the function of migration 0004.
        with sql.cursor() as cursor:
            cursor.execute(
                sql.FINISH_AND_CLAIM, sql.finish_and_claim_params(outcome, claimant, now)
            )
            [(finished, *claimed)] = cursor.fetchall()
        nothing_claimed = claimed[0] is None  # The id.
        return finished == 1, None if nothing_claimed else sql.claimed(claimed, claimant, now)


@dataclass(frozen=True, kw_only=True)
class StaleTask:
    id: uuid.UUID
    task_path: str
    worker_id: str  # The worker that lost it.


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
    # The error of the latest failed attempt.
    exception_class_path: models.TextField[str, str] = models.TextField(
        _("exception class path"), blank=True, default=""
    )
    traceback: models.TextField[str, str] = models.TextField(_("traceback"), blank=True, default="")

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


class _Statements:
    """
    The SQL of the hot paths (enqueue, claim, finish), written once per database: the
    ORM would spend longer composing these statements than the database running them.
    """

    # Claim order, as SQL.
    ORDER = "priority DESC, available_at, enqueued_at"
    INSERTED = (
        "id",
        "task_path",
        "queue_name",
        "backend_name",
        "priority",
        "args",
        "kwargs",
        "enqueued_at",
        "run_after",
        "available_at",
    )

    def __init__(self, connection: BaseDatabaseWrapper) -> None:
        features = connection.features
        self.connection = connection
        self.postgresql = connection.vendor == "postgresql"
        self.server_binding_class = _server_binding_class() if self.postgresql else None
        self._cursor: CursorWrapper | None = None
        self.table = connection.ops.quote_name(DBTaskResult._meta.db_table)
        # By column name, which is also the field's (DBTaskResult sets no db_column).
        self.fields = {field.attname: field for field in DBTaskResult._meta.concrete_fields}
        self.columns = tuple(self.fields)  # The model's field order.
        self._converters: dict[tuple[str, ...], list[list[tuple[Any, Any]]]] = {}
        self._all_columns = ", ".join(self.columns)
        # Values the database driver takes as they are: on PostgreSQL, Django's
        # preparation of UUIDs and datetimes returns them unchanged, only slower.
        self._passed_as_is: frozenset[str] = frozenset()
        if self.postgresql:
            self._passed_as_is = frozenset(
                name
                for name, field in self.fields.items()
                if isinstance(field, models.UUIDField | models.DateTimeField)
            )
        self.lock = ""
        if features.has_select_for_update_skip_locked:
            self.lock = " FOR UPDATE SKIP LOCKED"
        elif features.has_select_for_update:
            self.lock = " FOR UPDATE"
        # Rows per INSERT: within the parameter limit of SQLite (and of PostgreSQL with
        # server-side binding), and well within MySQL's max_allowed_packet.
        max_params = features.max_query_params or 65535
        self.insert_chunk = min(max_params // len(self.INSERTED), 5000)
        if self.postgresql:
            self.insert_chunk = 50_000  # Ten array parameters, whatever the rows.
        one_row = ", ".join(["%s"] * len(self.INSERTED))
        self._insert_row = f"({one_row}, 'READY', '[]', '', '', '')"
        # MariaDB checks every CHECK constraint of a row it updates, the JSON_VALID of
        # columns the UPDATE does not touch included: a row whose args another program
        # stored past that check (too deep, say) could then never be claimed or failed,
        # and would block the queue. The claim and the finish set only values of ours.
        self._unchecked = ""
        if connection.display_name == "MariaDB":
            self._unchecked = "SET STATEMENT check_constraint_checks = 0 FOR "
        self.mark_claimed = (
            f"{self._unchecked}UPDATE {self.table} SET status = 'RUNNING', claimed_by = %s, "
            "lease_expires_at = %s, last_attempted_at = %s, started_at = %s, worker_ids = %s "
            "WHERE id = %s"
        )

    @contextmanager
    def cursor(self) -> Generator[CursorWrapper, None, None]:
        """
        A cursor for this class's statements (enqueue, claim, finish). With psycopg 3 it binds
        parameters on the server, where Django binds them in the client (the ORM's SQL
        needs that; these statements do not), so psycopg sends the values beside the query
        instead of quoting each into it. The statements stay unnamed, never prepared, so
        connection poolers are not affected. That cursor is kept for the connection's life:
        making one per statement was a tenth of a worker's time per task.
        """
        connection = self.connection
        if self.server_binding_class is None:
            with connection.cursor() as plain:
                yield plain
            return
        connection.ensure_connection()  # Reconnects after close(), like connection.cursor().
        kept = self._cursor
        if (
            kept is None
            or kept.cursor.connection is not connection.connection
            or isinstance(kept, CursorDebugWrapper) != connection.queries_logged
        ):
            kept = self._cursor = self._server_binding_cursor()
        yield kept

    def _server_binding_cursor(self) -> CursorWrapper:
        psycopg_connection = self.connection.connection
        factory = psycopg_connection.cursor_factory
        psycopg_connection.cursor_factory = self.server_binding_class
        try:
            return self.connection.cursor()  # Django's wrapper, as for any cursor.
        finally:
            psycopg_connection.cursor_factory = factory

    def model_from_row(
        self,
        names: tuple[str, ...],
        row: Sequence[Any],
        known: dict[str, Any] | None = None,
    ) -> DBTaskResult:
        """
        A DBTaskResult from a row of the columns `names`, and the `known` values of
        every other field.
        """
        converters = self._converters.get(names)
        if converters is None:
            converters = self._converters[names] = [self._converters_of(name) for name in names]
        values = dict(known or {})
        for name, value, column_converters in zip(names, row, converters, strict=True):
            values[name] = _convert(value, column_converters, self.connection)
        return DBTaskResult.from_db(
            self.connection.alias, self.columns, [values[name] for name in self.columns]
        )

    # What a PostgreSQL claim returns, after whether the outcome was stored: every
    # column but those the claim itself sets to values the claimant knows (see claimed()).
    CLAIM_RETURNS = (
        "id",
        "task_path",
        "queue_name",
        "priority",
        "args",
        "kwargs",
        "enqueued_at",
        "run_after",
        "available_at",
        "started_at",
        "finished_at",
        "worker_ids",
        "return_value",
        "exception_class_path",
        "traceback",
    )

    def claimed(self, row: Sequence[Any], claimant: Claimant, now: datetime) -> DBTaskResult:
        """The task the PostgreSQL function claimed, with what finish_and_claim_params() gave it."""
        return self.model_from_row(
            self.CLAIM_RETURNS,
            row,
            {
                "status": TaskResultStatus.RUNNING.value,
                "backend_name": claimant.backend_name,
                "claimed_by": claimant.worker_id,
                "lease_expires_at": now + claimant.lease,
                "last_attempted_at": now,
            },
        )

    def _converters_of(self, name: str) -> list[tuple[Any, Any]]:
        field = self.fields.get(name)
        if field is None:
            return []
        column = field.get_col(DBTaskResult._meta.db_table)
        found = [
            *self.connection.ops.get_db_converters(column),
            *column.get_db_converters(self.connection),
        ]
        return [(converter, column) for converter in found]

    def prep(self, name: str, value: object) -> Any:
        if name in self._passed_as_is:
            return value
        return self.fields[name].get_db_prep_save(value, self.connection)

    def insert(self, rows: int) -> str:
        columns = ", ".join(self.INSERTED)
        into = (
            f"INSERT INTO {self.table} ({columns}, status, worker_ids, claimed_by, "
            "exception_class_path, traceback)"
        )
        if self.postgresql and rows > 1:
            # One array per column, not one placeholder per value: psycopg would spend
            # longer splitting a query of thousands of placeholders than PostgreSQL
            # takes to insert the rows.
            arrays = ", ".join(f"%s::{kind}[]" for kind in self.PG_ARRAY_TYPES)
            return f"{into} SELECT *, 'READY', '[]', '', '', '' FROM unnest({arrays})"
        return f"{into} VALUES {', '.join([self._insert_row] * rows)}"

    # The types of the INSERTED columns, for unnest().
    PG_ARRAY_TYPES = (
        "uuid",
        "text",
        "varchar",
        "varchar",
        "smallint",
        "jsonb",
        "jsonb",
        "timestamptz",
        "timestamptz",
        "timestamptz",
    )

    def insert_params(self, tasks: Sequence[NewTask]) -> list[Any]:
        if self.postgresql and len(tasks) > 1:
            return [
                [task.id for task in tasks],
                [task.task_path for task in tasks],
                [task.queue_name for task in tasks],
                [task.backend_name for task in tasks],
                [task.priority for task in tasks],
                [json.dumps(task.args) for task in tasks],
                [json.dumps(task.kwargs) for task in tasks],
                [task.enqueued_at for task in tasks],
                [task.run_after for task in tasks],
                [task.run_after or task.enqueued_at for task in tasks],
            ]
        prep = self.prep
        params: list[Any] = []
        for task in tasks:
            params += (
                prep("id", task.id),
                task.task_path,
                task.queue_name,
                task.backend_name,
                task.priority,
                prep("args", task.args),
                prep("kwargs", task.kwargs),
                prep("enqueued_at", task.enqueued_at),
                prep("run_after", task.run_after),
                prep("available_at", task.run_after or task.enqueued_at),
            )
        return params

    def select_ready(self, claimant: Claimant) -> str:
        # Every column by name, in the model's order (model_from_row(self.columns, ...)).
        queues = ""
        if claimant.queue_names is not None and len(claimant.queue_names) == 1:
            queues = " AND queue_name = %s"  # An equality: the index then gives the order.
        elif claimant.queue_names is not None:
            queues = f" AND queue_name IN ({', '.join(['%s'] * len(claimant.queue_names))})"
        return (
            f"SELECT {self._all_columns} FROM {self.table} WHERE status = 'READY' AND "
            f"backend_name = %s{queues} AND available_at <= %s "
            f"ORDER BY {self.ORDER} LIMIT 1{self.lock}"
        )

    def select_ready_params(self, claimant: Claimant, now: datetime) -> list[Any]:
        queues = sorted(claimant.queue_names or ())
        return [claimant.backend_name, *queues, self.prep("available_at", now)]

    def mark_claimed_params(self, row: DBTaskResult) -> list[Any]:
        return [
            row.claimed_by,
            self.prep("lease_expires_at", row.lease_expires_at),
            self.prep("last_attempted_at", row.last_attempted_at),
            self.prep("started_at", row.started_at),
            self.prep("worker_ids", row.worker_ids),
            self.prep("id", row.id),
        ]

    # PostgreSQL stores an outcome and claims the next task in one call.
    FINISH_AND_CLAIM = (
        f"SELECT * FROM django_tasks_database_finish_and_claim({', '.join(['%s'] * 11)})"
    )

    def finish_and_claim_params(
        self, outcome: Outcome | None, claimant: Claimant, now: datetime
    ) -> list[Any]:
        """The arguments of the function, in order (see migration 0004)."""
        finish: list[Any] = [None] * 6
        if outcome is not None:
            failed = outcome.status == TaskResultStatus.FAILED
            finish = [
                outcome.id,
                str(outcome.status),
                outcome.finished_at,
                self.prep("return_value", outcome.return_value),
                outcome.exception_class_path if failed else None,
                outcome.traceback if failed else None,
            ]
        return [
            *finish,
            claimant.worker_id,
            claimant.backend_name,
            _text_array(claimant.queue_names),
            now,
            now + claimant.lease,
        ]

    def finish(self, outcome: Outcome) -> str:
        error = ""
        if outcome.status == TaskResultStatus.FAILED:
            error = "exception_class_path = %s, traceback = %s, "
        return (
            f"{self._unchecked}UPDATE {self.table} SET status = %s, finished_at = %s, "
            f"return_value = %s, "
            f"{error}claimed_by = '', lease_expires_at = NULL "
            "WHERE id = %s AND status = 'RUNNING' AND claimed_by = %s AND backend_name = %s"
        )

    def finish_params(self, outcome: Outcome, claimant: Claimant) -> list[Any]:
        error: list[Any] = []
        if outcome.status == TaskResultStatus.FAILED:
            error = [outcome.exception_class_path, outcome.traceback]
        return [
            str(outcome.status),
            self.prep("finished_at", outcome.finished_at),
            self.prep("return_value", outcome.return_value),
            *error,
            self.prep("id", outcome.id),
            claimant.worker_id,
            claimant.backend_name,
        ]


@functools.lru_cache(maxsize=64)
def _text_array(values: frozenset[str] | None) -> str | None:
    """A PostgreSQL text[] literal, which costs less to send than psycopg's list dumping."""
    if values is None:
        return None
    quoted = (
        '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"' for value in sorted(values)
    )
    return "{" + ",".join(quoted) + "}"


def _server_binding_class() -> type[Any] | None:
    """psycopg 3's cursor class that binds parameters on the server; None for psycopg2."""
    from django.db.backends.postgresql.psycopg_any import is_psycopg3

    if not is_psycopg3:
        return None
    import psycopg

    return psycopg.Cursor


# Per thread, like Django's connections.
_local = threading.local()


def statements_for(using: str) -> _Statements:
    connection = connections[using]
    cache: dict[str, _Statements] = _local.__dict__.setdefault("statements", {})
    statements = cache.get(using)
    if statements is None or statements.connection is not connection:
        statements = cache[using] = _Statements(connection)
    return statements


def _convert(
    value: object, converters: list[tuple[Any, Any]], connection: BaseDatabaseWrapper
) -> Any:
    for converter, column in converters:
        value = converter(value, column, connection)
    return value


def is_lock_conflict(error: DatabaseError) -> bool:
    """SQLite's "database is locked", a deadlock, a lock wait timeout: try again soon."""
    cause = error.__cause__
    if isinstance(cause, sqlite3.OperationalError):
        return "is locked" in str(cause)
    if getattr(cause, "sqlstate", None) in _PG_LOCK_CONFLICTS:
        return True
    return bool(error.args) and error.args[0] in _MYSQL_LOCK_CONFLICTS


def is_statement_error(error: DatabaseError) -> bool:
    """
    An error in the statement itself (a missing table or column, a malformed value),
    which no retry mends. SQLite reports those as OperationalError, like a lock: its
    message tells them apart.
    """
    if isinstance(error, DataError | ProgrammingError | NotSupportedError):
        return True
    cause = error.__cause__
    return isinstance(cause, sqlite3.OperationalError) and str(cause).startswith(
        _SQLITE_STATEMENT_ERRORS
    )


_SQLITE_STATEMENT_ERRORS = ("no such table", "no such column", "no such function")

# serialization_failure, deadlock_detected, lock_not_available
_PG_LOCK_CONFLICTS = ("40001", "40P01", "55P03")
# ER_LOCK_WAIT_TIMEOUT, ER_LOCK_DEADLOCK
_MYSQL_LOCK_CONFLICTS = (1205, 1213)


def is_retryable(error: DatabaseError, using: str) -> bool:
    """
    Whether trying again may succeed: after a lock conflict, or when the connection
    broke (a new one is made). Otherwise the database refused the statement itself.
    """
    if is_lock_conflict(error):
        return True
    connection = connections[using]
    if connection.connection is None:
        return True
    try:
        return not connection.is_usable()
    except Exception:
        return True


@contextmanager
def _write_transaction(using: str) -> Generator[None, None, None]:
    """
    A transaction. On SQLite it takes the write lock as it begins (BEGIN IMMEDIATE), so
    that two workers cannot both read the same ready task and then both claim it;
    elsewhere SELECT ... FOR UPDATE SKIP LOCKED does that job.
    """
    connection = connections[using]
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        with transaction.atomic(using=using):
            yield
        return
    connection.ensure_connection()  # Connecting reads transaction_mode from the settings.
    sqlite = cast(_SQLiteTransactionMode, connection)
    mode = sqlite.transaction_mode
    sqlite.transaction_mode = "IMMEDIATE"
    try:
        with transaction.atomic(using=using):
            sqlite.transaction_mode = mode
            yield
    finally:
        sqlite.transaction_mode = mode


class _SQLiteTransactionMode(Protocol):
    # Django's SQLite wrapper has it (Django 5.1+), django-stubs do not.
    transaction_mode: str | None


class EnqueueListener:
    """
    A connection of its own that LISTENs on PostgreSQL for the NOTIFY that migration
    0002's trigger sends when tasks are inserted, so that an idle worker wakes at once.
    """

    def __init__(self, using: str) -> None:
        self.using = using
        self._connection: psycopg.Connection[Any] | None = None

    @classmethod
    def for_database(cls, using: str) -> EnqueueListener | None:
        """A listener, or None where there is nothing to listen to (not psycopg 3)."""
        if connections[using].vendor != "postgresql":
            return None
        from django.db.backends.postgresql.psycopg_any import is_psycopg3

        return cls(using) if is_psycopg3 else None

    @property
    def connected(self) -> bool:
        return self._connection is not None

    def connect(self) -> None:
        """Connect and LISTEN. Only tasks enqueued after this are notified."""
        import psycopg

        params = connections[self.using].get_connection_params()
        connection = psycopg.Connection.connect(**params, autocommit=True)
        connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
        self._connection = connection

    def fileno(self) -> int:
        """The socket to wait on for notifications."""
        if self._connection is None:
            raise RuntimeError("The listener is not connected.")
        return self._connection.fileno()

    def consume(self) -> int:
        """Read the notifications that have arrived, without waiting; return how many."""
        if self._connection is None:
            return 0
        return sum(1 for _notify in self._connection.notifies(timeout=0))

    def close(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            connection.close()


class DataVersionWatch:
    """
    SQLite has no NOTIFY; `PRAGMA data_version` changes when another connection commits
    to the database file (an enqueue, say), and reading it costs microseconds: no file
    is read, no lock taken. An idle worker checks it often and claims when it changes.
    The worker's own commits, and transactions that change nothing, leave it as it is.
    """

    def __init__(self, using: str) -> None:
        self.using = using
        self._seen: int | None = None

    @classmethod
    def for_database(cls, using: str) -> DataVersionWatch | None:
        return cls(using) if connections[using].vendor == "sqlite" else None

    def mark(self) -> None:
        """Remember the version now, before a claim: what commits after it is a change."""
        self._seen = self._read()

    def changed(self) -> bool:
        """Whether another connection committed since `mark()` (or the last call)."""
        seen, self._seen = self._seen, self._read()
        return self._seen != seen

    def _read(self) -> int:
        connection = connections[self.using]
        connection.ensure_connection()
        raw = cast(sqlite3.Connection, connection.connection)
        with connection.wrap_database_errors:  # As Django's errors, as for any query.
            [(version,)] = raw.execute("PRAGMA data_version").fetchall()
        return int(version)
