"""Which servers the tests need, and what to do when one is missing."""

import os
import socket
from typing import NoReturn

import pytest

SERVERS = {
    "PostgreSQL": ("127.0.0.1", 5432),
    "MariaDB": ("127.0.0.1", 3306),
    "Redis": ("127.0.0.1", 6379),
}

# CI sets this: a missing server there is a failure, not a skip.
REQUIRE_SERVICES = os.environ.get("DJANGO_TASKS_REQUIRE_SERVICES", "") not in ("", "0")


def is_reachable(server: str) -> bool:
    host, port = SERVERS[server]
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require(server: str) -> None:
    """Skip the calling test without `server`; fail it instead under CI."""
    if is_reachable(server):
        return
    host, port = SERVERS[server]
    unavailable(f"{server} is not reachable at {host}:{port}")


def unavailable(reason: str) -> NoReturn:
    """Skip the calling test for want of something it needs; fail it instead under CI."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason}, and DJANGO_TASKS_REQUIRE_SERVICES is set", pytrace=False)
    pytest.skip(reason)
