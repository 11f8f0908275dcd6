import os

from .settings import *  # noqa: F403
from .settings import DATABASES

DATABASES["default"] = {
    "ENGINE": "django.db.backends.postgresql",
    "HOST": "127.0.0.1",
    "PORT": 5432,
    # Worker subprocesses of the tests are pointed at the test database.
    "NAME": os.environ.get("DJANGO_TASKS_DB_NAME", "test"),
    "USER": "postgres",
}
