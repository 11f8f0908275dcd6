"""Settings for django-tasks-db 0.12 and django-tasks-rq 0.12 running on our package."""

import os
from pathlib import Path
from typing import Any

SECRET_KEY = "django-tasks-third-party-tests"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django_tasks",
    "django_tasks_db",
    "django_rq",
    "third_party_tests",
]

# A file, so that the worker subprocesses share it; they get the test database's path.
SQLITE_NAME = os.environ.get("THIRD_PARTY_SQLITE_NAME", "third-party.sqlite3")
DATABASES: dict[str, dict[str, Any]] = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": SQLITE_NAME,
        "TEST": {"NAME": str(Path(SQLITE_NAME).with_name("third-party-test.sqlite3"))},
    }
}

TASKS = {
    "default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": []},
    "rq": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]},
}

# Redis database 14: the project's own RQ tests use another.
RQ_QUEUES = {"default": {"HOST": "127.0.0.1", "PORT": 6379, "DB": 14}}
