"""
Settings of the soak project (soak/run.py starts its workers with them). The environment
picks:

SOAK_DB         "postgresql", "mysql" or "sqlite"
SOAK_DB_NAME    database name, or the SQLite file's path
SOAK_LEASE      WORKER_TIMEOUT of both backends, in seconds
SOAK_REDIS_URL  the RQ backend's Redis database
SOAK_EXEC_LOG   the file each task execution appends to (soakproject.tasks)
"""

import os

SECRET_KEY = "soak-only"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

_db = os.environ.get("SOAK_DB", "sqlite")
_name = os.environ.get("SOAK_DB_NAME", "soak.sqlite3")
if _db == "postgresql":
    _database = {"ENGINE": "django.db.backends.postgresql", "HOST": "127.0.0.1", "USER": "postgres"}
elif _db == "mysql":
    _database = {"ENGINE": "django.db.backends.mysql", "HOST": "127.0.0.1", "USER": "root"}
elif _db == "sqlite":
    # A writer waits for the lock up to this long, as a busy production database would.
    _database = {"ENGINE": "django.db.backends.sqlite3", "OPTIONS": {"timeout": 20}}
else:
    raise ValueError(f"SOAK_DB must be postgresql, mysql or sqlite, not {_db!r}")
DATABASES = {"default": {**_database, "NAME": _name}}

INSTALLED_APPS = ["django_tasks", "django_tasks.backends.database", "django_rq", "soakproject"]

_lease = float(os.environ.get("SOAK_LEASE", "4"))
TASKS = {
    "default": {
        "BACKEND": "django_tasks.backends.database.DatabaseBackend",
        "OPTIONS": {"WORKER_TIMEOUT": _lease},
    },
    "rq": {
        "BACKEND": "django_tasks.backends.rq.RQBackend",
        "OPTIONS": {"WORKER_TIMEOUT": _lease},
    },
}
RQ_QUEUES = {"default": {"URL": os.environ.get("SOAK_REDIS_URL", "redis://127.0.0.1:6379/11")}}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
