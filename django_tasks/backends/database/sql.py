"""
The SQL of the hot paths (enqueue, claim, finish), written once per database, and the
transaction the claim runs in. The manager (models.py) is its only user.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Generator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, cast

from django.db import connections, models, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper

from ...base import TaskResultStatus
from .records import Claimant, NewTask, Outcome

if TYPE_CHECKING:
    from .models import DBTaskResult


# Ready tasks run highest priority first, then the earliest due, then the oldest.
CLAIM_ORDER = ("-priority", "available_at", "enqueued_at")
# What a claim sets on every row it claims (claim_sets()). Besides these, it keeps a
# row's started_at if it has one (else now), and adds the claimant to its worker_ids.
CLAIM_SET_COLUMNS = ("status", "claimed_by", "lease_expires_at", "last_attempted_at")
# The columns whose values the claimant knows without reading the row: what it sets,
# and the backend it claims for. A PostgreSQL claim does not return them (claimed()).
CLAIM_KNOWS = frozenset((*CLAIM_SET_COLUMNS, "backend_name"))


# What a claim sets that depends on the row: in Python for the databases that select,
# then update (Statements.claim_row), in SQL for PostgreSQL's (claim_ready, and the
# function of migration 0006).
ROW_CLAIM_SETS = ("started_at", "worker_ids")


def claim_sets(claimant: Claimant, now: datetime) -> dict[str, Any]:
    """The values of CLAIM_SET_COLUMNS, by column, for a claim at `now`."""
    values = (TaskResultStatus.RUNNING.value, claimant.worker_id, now + claimant.lease, now)
    return dict(zip(CLAIM_SET_COLUMNS, values, strict=True))


class Statements:
    """
    The SQL of the hot paths (enqueue, claim, finish), written once per database: the
    ORM would spend longer composing these statements than the database running them.
    """

    # Claim order, as SQL.
    ORDER = ", ".join(f"{name[1:]} DESC" if name[0] == "-" else name for name in CLAIM_ORDER)
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
    # What every other column of a new task holds, as SQL (the rest take their NULL).
    INSERTED_CONSTANTS = (
        ("status", "'READY'"),
        ("worker_ids", "'[]'"),
        ("claimed_by", "''"),
        ("errors", "'[]'"),
    )

    def __init__(self, connection: BaseDatabaseWrapper, model: type[DBTaskResult]) -> None:
        features = connection.features
        self.connection = connection
        self.model = model
        self.postgresql = connection.vendor == "postgresql"
        self.server_binding_class = _server_binding_class() if self.postgresql else None
        self._cursor: CursorWrapper | None = None
        self.table = connection.ops.quote_name(model._meta.db_table)
        # By column name, which is also the field's (DBTaskResult sets no db_column).
        self.fields = {field.attname: field for field in model._meta.concrete_fields}
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
        constants = ", ".join(value for _name, value in self.INSERTED_CONSTANTS)
        self._insert_row = f"({one_row}, {constants})"
        self._insert_constants = constants
        self._finish: dict[tuple[bool, bool], str] = {}
        # The columns the PostgreSQL function returns, as it names them (see claimed()).
        self._claim_returns: tuple[str, ...] | None = None
        self.claim_ready_columns = tuple(name for name in self.columns if name not in CLAIM_KNOWS)
        # MariaDB checks every CHECK constraint of a row it updates, the JSON_VALID of
        # columns the UPDATE does not touch included: a row whose args another program
        # stored past that check (too deep, say) could then never be claimed or failed,
        # and would block the queue. The claim and the finish set only values of ours.
        self._unchecked = ""
        if connection.display_name == "MariaDB":
            self._unchecked = "SET STATEMENT check_constraint_checks = 0 FOR "
        marked = ", ".join(f"{name} = %s" for name in (*CLAIM_SET_COLUMNS, *ROW_CLAIM_SETS))
        self.mark_claimed = f"{self._unchecked}UPDATE {self.table} SET {marked} WHERE id = %s"

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
        return self.model.from_db(
            self.connection.alias, self.columns, [values[name] for name in self.columns]
        )

    def claim_returns(self, cursor: CursorWrapper) -> tuple[str, ...]:
        """
        The columns of a claim by the PostgreSQL function, after whether the outcome was
        stored, as it names them: every column but those the claim itself sets to values
        the claimant knows (see claimed()). Read once from the function's own answer.
        """
        if self._claim_returns is None:
            description = cursor.description or ()
            self._claim_returns = tuple(column.name for column in description[1:])
        return self._claim_returns

    def claimed(
        self, names: tuple[str, ...], row: Sequence[Any], claimant: Claimant, now: datetime
    ) -> DBTaskResult:
        """A task a PostgreSQL claim returned (its columns `names`), with what it knows."""
        known = {**claim_sets(claimant, now), "backend_name": claimant.backend_name}
        return self.model_from_row(names, row, known)

    def _converters_of(self, name: str) -> list[tuple[Any, Any]]:
        field = self.fields.get(name)
        if field is None:
            return []
        column = field.get_col(self.model._meta.db_table)
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
        constant_columns = ", ".join(name for name, _value in self.INSERTED_CONSTANTS)
        into = f"INSERT INTO {self.table} ({columns}, {constant_columns})"
        if self.postgresql and rows > 1:
            # One array per column, not one placeholder per value: psycopg would spend
            # longer splitting a query of thousands of placeholders than PostgreSQL
            # takes to insert the rows.
            arrays = ", ".join(f"%s::{kind}[]" for kind in self.PG_ARRAY_TYPES)
            return f"{into} SELECT *, {self._insert_constants} FROM unnest({arrays})"
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

    def _ready(self, claimant: Claimant) -> str:
        """The claimant's ready tasks, in claim order (parameters: select_ready_params)."""
        return (
            f"FROM {self.table} WHERE status = 'READY' AND backend_name = %s"
            f"{_queue_filter(claimant)} AND available_at <= %s ORDER BY {self.ORDER}"
        )

    def select_ready(self, claimant: Claimant, limit: int = 1) -> str:
        # Every column by name, in the model's order (model_from_row(self.columns, ...)).
        return f"SELECT {self._all_columns} {self._ready(claimant)} LIMIT {int(limit)}{self.lock}"

    def claim_ready(self, claimant: Claimant) -> str:
        """
        PostgreSQL: claim up to a number of ready tasks in one statement (a worker with
        several free slots), returning claim_ready_columns of each (every column but
        those claimed() knows), in claim order.
        """
        returned = ", ".join(f"t.{column}" for column in self.claim_ready_columns)
        sets = ", ".join(f"{name} = %s" for name in CLAIM_SET_COLUMNS)
        return (
            f"WITH picked AS (SELECT id {self._ready(claimant)} LIMIT %s FOR UPDATE SKIP LOCKED), "
            f"claimed AS (UPDATE {self.table} AS t SET {sets}, "
            # ROW_CLAIM_SETS, in SQL:
            "started_at = COALESCE(t.started_at, %s), "
            "worker_ids = t.worker_ids || jsonb_build_array(%s::text) "
            f"FROM picked WHERE t.id = picked.id RETURNING {returned}) "
            f"SELECT * FROM claimed ORDER BY {self.ORDER}"
        )

    def claim_ready_params(self, claimant: Claimant, now: datetime, limit: int) -> list[Any]:
        return [
            *self.select_ready_params(claimant, now),
            limit,
            *claim_sets(claimant, now).values(),
            now,
            claimant.worker_id,
        ]

    def select_ready_params(self, claimant: Claimant, now: datetime) -> list[Any]:
        queues = sorted(claimant.queue_names or ())
        return [claimant.backend_name, *queues, self.prep("available_at", now)]

    def claim_row(self, row: DBTaskResult, claimant: Claimant, now: datetime) -> list[Any]:
        """
        Claim a row read by select_ready (SQLite, MySQL, MariaDB): set what the claim
        sets on it, and return the parameters of mark_claimed that store that.
        """
        worker_ids: object = row.worker_ids
        previous = cast(list[object], worker_ids) if isinstance(worker_ids, list) else []
        values = {
            **claim_sets(claimant, now),
            "started_at": row.started_at or now,
            "worker_ids": [*previous, claimant.worker_id],
        }
        for name, value in values.items():
            setattr(row, name, value)
        return [
            *(self.prep(name, value) for name, value in values.items()),
            self.prep("id", row.id),
        ]

    # The arguments of the PostgreSQL function that stores an outcome and claims the next
    # task in one call (see migration 0006): the outcome's, then the claimant's.
    FINISH_ARGUMENTS = (
        "finish_id",
        "finish_status",
        "finish_at",
        "finish_return_value",
        "finish_errors",
        "finish_retry_at",
    )
    CLAIM_ARGUMENTS = ("worker", "backend", "queues", "claim_at", "lease_until")
    FINISH_AND_CLAIM = (
        "SELECT * FROM django_tasks_database_finish_and_claim("
        f"{', '.join(['%s'] * (len(FINISH_ARGUMENTS) + len(CLAIM_ARGUMENTS)))})"
    )

    def finish_and_claim_params(
        self, outcome: Outcome | None, claimant: Claimant, now: datetime
    ) -> list[Any]:
        """The arguments of the function, in order (FINISH_ARGUMENTS, CLAIM_ARGUMENTS)."""
        finish: list[Any] = [None] * len(self.FINISH_ARGUMENTS)
        if outcome is not None:
            finish = [
                outcome.id,
                str(outcome.status),
                outcome.finished_at if outcome.finished else None,
                self.prep("return_value", outcome.return_value),
                None if outcome.errors is None else self.prep("errors", outcome.errors),
                outcome.retry_at,  # NULL keeps the row's due time.
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
        """
        Store the outcome of the claimant's attempt, if it still holds the task. A failure
        writes the whole list of errors: the claimant read it with the claim, and nobody
        else writes the row while it holds it.
        """
        shape = (outcome.errors is not None, outcome.retry_at is not None)
        statement = self._finish.get(shape)
        if statement is None:
            errors = "errors = %s, " if shape[0] else ""
            due = "available_at = %s, run_after = %s, " if shape[1] else ""
            statement = self._finish[shape] = (
                f"{self._unchecked}UPDATE {self.table} SET status = %s, finished_at = %s, "
                f"return_value = %s, {errors}{due}claimed_by = '', lease_expires_at = NULL "
                "WHERE id = %s AND status = 'RUNNING' AND claimed_by = %s AND backend_name = %s"
            )
        return statement

    def finish_lost(
        self, outcome: Outcome, lost_by: Claimant, lease_expires_at: datetime | None
    ) -> tuple[str, list[Any]]:
        """
        The statement and parameters that store the outcome of a lost worker's attempt,
        only if its lease is still the one that was read (`lease_expires_at`, expired):
        a renewal, a finish or another worker's taking it back since then changed it.
        """
        params = self.finish_params(outcome, lost_by)
        if lease_expires_at is None:
            return f"{self.finish(outcome)} AND lease_expires_at IS NULL", params
        read = self.prep("lease_expires_at", lease_expires_at)
        return f"{self.finish(outcome)} AND lease_expires_at = %s", [*params, read]

    def finish_params(self, outcome: Outcome, claimant: Claimant) -> list[Any]:
        errors: list[Any] = []
        if outcome.errors is not None:
            errors = [self.prep("errors", outcome.errors)]
        due: list[Any] = []
        if outcome.retry_at is not None:
            retry_at = self.prep("available_at", outcome.retry_at)
            due = [retry_at, retry_at]
        return [
            str(outcome.status),
            self.prep("finished_at", outcome.finished_at if outcome.finished else None),
            self.prep("return_value", outcome.return_value),
            *errors,
            *due,
            self.prep("id", outcome.id),
            claimant.worker_id,
            claimant.backend_name,
        ]


def _queue_filter(claimant: Claimant) -> str:
    if claimant.queue_names is None:
        return ""
    if len(claimant.queue_names) == 1:
        return " AND queue_name = %s"  # An equality: the index then gives the order.
    return f" AND queue_name IN ({', '.join(['%s'] * len(claimant.queue_names))})"


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


def statements_for(using: str, model: type[DBTaskResult]) -> Statements:
    connection = connections[using]
    cache: dict[str, Statements] = _local.__dict__.setdefault("statements", {})
    statements = cache.get(using)
    if statements is None or statements.connection is not connection:
        statements = cache[using] = Statements(connection, model)
    return statements


def _convert(
    value: object, converters: list[tuple[Any, Any]], connection: BaseDatabaseWrapper
) -> Any:
    for converter, column in converters:
        value = converter(value, column, connection)
    return value


@contextmanager
def write_transaction(using: str) -> Generator[None, None, None]:
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
