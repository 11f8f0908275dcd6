import inspect
from collections.abc import Callable
from typing import Any

from django.utils.crypto import get_random_string


def is_module_level_function(func: Callable[..., Any]) -> bool:
    """Whether a worker in another process can import `func` by its path."""
    if not inspect.isfunction(func) or inspect.isbuiltin(func):
        return False
    # A lambda's path ends in "<lambda>", which no import can reach.
    return "<locals>" not in func.__qualname__ and func.__name__ != "<lambda>"


def get_module_path(obj: Callable[..., Any] | type[Any]) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"


def get_random_id() -> str:
    return get_random_string(32)
