from .settings import *  # noqa: F403
from .settings import DATABASES

DATABASES["default"] = {
    "ENGINE": "django.db.backends.mysql",
    "HOST": "127.0.0.1",
    "PORT": 3306,
    "NAME": "test",
    "USER": "root",
    "PASSWORD": "",
    "OPTIONS": {"charset": "utf8mb4"},
}
