"""How the worker tells database errors apart: a lock conflict, a broken connection, a
statement the database refuses."""

import sqlite3

from django.db import DatabaseError, DataError, NotSupportedError, ProgrammingError, connections


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
