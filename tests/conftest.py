from collections.abc import Iterator

import pytest
from django.conf import settings

from django_tasks import task_backends

from .services import REQUIRE_SERVICES, SERVERS, is_reachable

_ENGINE_SERVERS = {
    "django.db.backends.postgresql": "PostgreSQL",
    "django.db.backends.mysql": "MariaDB",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under settings_postgres/settings_mysql every test needs that server."""
    server = _ENGINE_SERVERS.get(str(settings.DATABASES["default"]["ENGINE"]))
    if server is None or is_reachable(server):
        return
    host, port = SERVERS[server]
    reason = f"{server} is not reachable at {host}:{port}"
    if REQUIRE_SERVICES:
        pytest.exit(f"{reason}, and DJANGO_TASKS_REQUIRE_SERVICES is set", returncode=1)
    for item in items:
        item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(autouse=True)
def fresh_task_backends() -> Iterator[None]:
    """Each test gets new backend instances (an empty DummyBackend.results)."""
    task_backends.reset()
    yield
    task_backends.reset()
