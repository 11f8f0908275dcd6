"""
The database backend: a Django app (add it to INSTALLED_APPS) whose table holds the
tasks, and whose `db_worker` command runs them.
"""

from .backend import DatabaseBackend
from .bulk import BulkEnqueue, bulk_enqueue

__all__ = ["BulkEnqueue", "DatabaseBackend", "bulk_enqueue"]
