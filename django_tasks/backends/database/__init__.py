"""
The database backend: a Django app (add it to INSTALLED_APPS) whose table holds the
tasks, and whose `db_worker` command runs them.
"""

from ...bulk import BulkEnqueue, bulk_enqueue
from .backend import DatabaseBackend

# bulk_enqueue lives in the core now (django_tasks.bulk_enqueue); it stays importable here.
__all__ = ["BulkEnqueue", "DatabaseBackend", "bulk_enqueue"]
