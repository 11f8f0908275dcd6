from collections.abc import Iterator
from typing import Any, NamedTuple

import pytest
from django.conf import settings

from django_tasks import TaskResult, TaskResultStatus, task_backends
from django_tasks.periodic import Schedule, schedules
from django_tasks.signals import task_enqueued, task_finished, task_started

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


class SentSignal(NamedTuple):
    name: str  # "enqueued", "started" or "finished"
    sender: type[object]
    status: TaskResultStatus  # The result's status when the signal was sent.
    task_result: TaskResult[Any]


@pytest.fixture
def signals_sent() -> Iterator[list[SentSignal]]:
    """Each task signal sent during the test, in order."""
    sent: list[SentSignal] = []
    signals = {"enqueued": task_enqueued, "started": task_started, "finished": task_finished}

    def receiver_for(name: str) -> Any:
        def receive(sender: type[object], task_result: TaskResult[Any], **kwargs: object) -> None:
            sent.append(SentSignal(name, sender, task_result.status, task_result))

        return receive

    receivers = {signal: receiver_for(name) for name, signal in signals.items()}
    for signal, receive in receivers.items():
        signal.connect(receive)
    yield sent
    for signal, receive in receivers.items():
        signal.disconnect(receive)


@pytest.fixture
def declared_schedules() -> Iterator[list[Schedule]]:
    """The schedule registry, as it was before the test once the test is over."""
    saved = list(schedules)
    yield schedules
    schedules[:] = saved
