from .settings import *  # noqa: F403
from .settings import DATABASES

DATABASES["default"] = {
    "ENGINE": "django.db.backends.postgresql",
    "HOST": "127.0.0.1",
    "PORT": 5432,
    "NAME": "test",
    "USER": "postgres",
}
