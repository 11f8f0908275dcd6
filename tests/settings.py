"""Test settings on SQLite; settings_postgres and settings_mysql swap the database."""

import json
import os
from typing import Any

SECRET_KEY = "django-tasks-tests"
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # Serves the admin's CSS to the browser tests (pytest-django's live_server).
    "django.contrib.staticfiles",
    "django_tasks",
    "django_tasks.backends.database",
    "django_rq",
    "tests",
    # Worker subprocesses of the periodic tests load the apps that declare schedules.
    *json.loads(os.environ.get("DJANGO_TASKS_EXTRA_APPS", "[]")),
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

ROOT_URLCONF = "tests.urls"
STATIC_URL = "static/"

DATABASES: dict[str, dict[str, Any]] = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        # A file, not :memory:, so worker subprocesses see the same database.
        "NAME": os.environ.get("DJANGO_TASKS_SQLITE_NAME", "tests-default.sqlite3"),
        "TEST": {"NAME": os.environ.get("DJANGO_TASKS_SQLITE_TEST_NAME", "tests-test.sqlite3")},
    },
    # A second database, for the tests of multi-database projects (always SQLite).
    "other": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": "tests-other.sqlite3",
        "TEST": {"NAME": "tests-other-test.sqlite3"},
    },
}

TASKS: dict[str, dict[str, Any]] = {
    "default": {
        "BACKEND": "django_tasks.backends.immediate.ImmediateBackend",
        "QUEUES": [],
    },
    "dummy": {
        "BACKEND": "django_tasks.backends.dummy.DummyBackend",
        "QUEUES": [],
    },
    "database": {
        "BACKEND": "django_tasks.backends.database.DatabaseBackend",
        "QUEUES": [],
        # Most tests run inside a transaction that never commits; the tests of
        # ENQUEUE_ON_COMMIT turn it on.
        "ENQUEUE_ON_COMMIT": False,
        # Worker subprocesses of the tests get theirs from the environment (JSON).
        "OPTIONS": json.loads(os.environ.get("DJANGO_TASKS_DATABASE_OPTIONS", "{}")),
    },
}

# The RQ backend's tests: Redis databases of their own, flushed by the tests. "emails"
# lives in another database, as a queue on another Redis server would.
REDIS_URL = os.environ.get("DJANGO_TASKS_REDIS_URL", "redis://127.0.0.1:6379/15")
REDIS_OTHER_URL = os.environ.get("DJANGO_TASKS_REDIS_OTHER_URL", "redis://127.0.0.1:6379/12")
RQ_QUEUES: dict[str, dict[str, Any]] = {
    "default": {"URL": REDIS_URL},
    "emails": {"URL": REDIS_OTHER_URL},
}
TASKS["rq"] = {
    "BACKEND": "django_tasks.backends.rq.RQBackend",
    "QUEUES": ["default", "emails"],
    "ENQUEUE_ON_COMMIT": False,
    # Worker subprocesses of the tests get theirs from the environment (JSON).
    "OPTIONS": json.loads(os.environ.get("DJANGO_TASKS_RQ_OPTIONS", "{}")),
}
