"""
How an idle worker learns of new tasks without polling the table: PostgreSQL's
LISTEN/NOTIFY, SQLite's data_version.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any, cast

from django.db import connections

if TYPE_CHECKING:
    import psycopg

# The PostgreSQL channel the insert trigger of migration 0002 notifies.
NOTIFY_CHANNEL = "django_tasks_database"


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
