"""
One settings module for both sides of the benchmark. The environment picks:

BENCH_SIDE          "ours" (django_tasks.backends.database) or "theirs" (django-tasks-db)
BENCH_DB            "postgresql" or "sqlite"
BENCH_DB_NAME       database name (PostgreSQL) or file path (SQLite)
BENCH_CONN_MAX_AGE  "0" (Django's default) or "none" (persistent connections)
BENCH_PG_HOST, BENCH_PG_PORT, BENCH_PG_USER, BENCH_PG_PASSWORD
"""

import os

BENCH_SIDE = os.environ.get("BENCH_SIDE", "ours")
if BENCH_SIDE not in ("ours", "theirs"):
    raise ValueError(f"BENCH_SIDE must be 'ours' or 'theirs', not {BENCH_SIDE!r}")

SECRET_KEY = "benchmark-only"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

_conn_max_age = os.environ.get("BENCH_CONN_MAX_AGE", "0")
CONN_MAX_AGE = None if _conn_max_age.lower() == "none" else int(_conn_max_age)

if os.environ.get("BENCH_DB", "postgresql") == "sqlite":
    _database = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("BENCH_DB_NAME", f"bench_{BENCH_SIDE}.sqlite3"),
    }
else:
    _database = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("BENCH_DB_NAME", f"bench_{BENCH_SIDE}"),
        "HOST": os.environ.get("BENCH_PG_HOST", "127.0.0.1"),
        "PORT": os.environ.get("BENCH_PG_PORT", "5432"),
        "USER": os.environ.get("BENCH_PG_USER", "postgres"),
        "PASSWORD": os.environ.get("BENCH_PG_PASSWORD", ""),
    }
DATABASES = {"default": {**_database, "CONN_MAX_AGE": CONN_MAX_AGE}}

if BENCH_SIDE == "ours":
    _backend_app = "django_tasks.backends.database"
    _backend_path = "django_tasks.backends.database.DatabaseBackend"
else:
    _backend_app = "django_tasks_db"
    _backend_path = "django_tasks_db.DatabaseBackend"

# benchproject is an app so that its tasks.py loads at start-up: our worker finds tasks
# among the loaded modules only (and django-tasks-db's imports it by path anyway).
INSTALLED_APPS = ["django_tasks", _backend_app, "benchproject"]

# Everything else is Django's default on both sides (ENQUEUE_ON_COMMIT included: ours
# defaults to on_commit, which outside a transaction runs at once; theirs has no such option).
TASKS = {"default": {"BACKEND": _backend_path}}
