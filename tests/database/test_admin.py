"""The read-only admin of the task table."""

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from django_tasks import TaskResult
from django_tasks.backends.database.models import DBTaskResult

from .. import db_tasks
from .support import run_worker

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:django_tasks_database_dbtaskresult_changelist"
CHANGE = "admin:django_tasks_database_dbtaskresult_change"
ADD = "admin:django_tasks_database_dbtaskresult_add"


@pytest.fixture
def admin_client() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("admin", "admin@example.com", "pw"))
    return client


def page(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def change_page(client: Client, result: TaskResult[Any]) -> str:
    return page(client, reverse(CHANGE, args=[result.id]))


def test_changelist_lists_tasks_by_path(admin_client: Client) -> None:
    db_tasks.add.enqueue(1, 2)
    db_tasks.fail.enqueue("no")

    html = page(admin_client, reverse(CHANGELIST))

    assert "tests.db_tasks.add" in html
    assert "tests.db_tasks.fail" in html


def test_changelist_filters_by_status(admin_client: Client) -> None:
    db_tasks.add.enqueue(1, 2)
    db_tasks.fail.enqueue("no")
    run_worker()

    html = page(admin_client, reverse(CHANGELIST) + "?status__exact=FAILED")

    assert "tests.db_tasks.fail" in html
    assert "tests.db_tasks.add" not in html


def test_changelist_filters_by_queue(admin_client: Client) -> None:
    db_tasks.add.using(queue_name="emails").enqueue(1, 2)
    db_tasks.echo.enqueue("x")

    html = page(admin_client, reverse(CHANGELIST) + "?queue_name__exact=emails")

    assert "tests.db_tasks.add" in html
    assert "tests.db_tasks.echo" not in html


def test_changelist_filters_by_backend(admin_client: Client) -> None:
    db_tasks.add.enqueue(1, 2)

    assert "tests.db_tasks.add" in page(
        admin_client, reverse(CHANGELIST) + "?backend_name__exact=database"
    )
    assert "tests.db_tasks.add" not in page(
        admin_client, reverse(CHANGELIST) + "?backend_name__exact=other"
    )


def test_changelist_searches_by_task_path(admin_client: Client) -> None:
    db_tasks.add.enqueue(1, 2)
    db_tasks.echo.enqueue("x")

    html = page(admin_client, reverse(CHANGELIST) + "?q=echo")

    assert "tests.db_tasks.echo" in html
    assert "tests.db_tasks.add" not in html


def test_change_page_shows_arguments_and_return_value_as_json(admin_client: Client) -> None:
    result = db_tasks.echo.enqueue({"to": ["ada@example.com"]})
    run_worker()

    html = change_page(admin_client, result)

    assert "ada@example.com" in html
    assert "&quot;to&quot;" in html  # Indented JSON, escaped for HTML.


def test_change_page_shows_the_traceback_of_a_failure(admin_client: Client) -> None:
    result = db_tasks.fail.enqueue("card declined <b>")
    run_worker()

    html = change_page(admin_client, result)

    assert "ValueError: card declined &lt;b&gt;" in html


def test_change_page_is_read_only(admin_client: Client) -> None:
    result = db_tasks.add.enqueue(1, 2)

    html = change_page(admin_client, result)

    assert 'name="_save"' not in html
    assert admin_client.post(reverse(CHANGE, args=[result.id]), {}).status_code == 403


def test_tasks_cannot_be_added_by_hand(admin_client: Client) -> None:
    assert admin_client.get(reverse(ADD)).status_code == 403


def test_changelist_filters_by_status_queue_and_backend(admin_client: Client) -> None:
    response = admin_client.get(reverse(CHANGELIST))

    titles = [spec.title for spec in response.context["cl"].filter_specs]
    assert titles == ["status", "queue name", "backend name"]


def test_tasks_cannot_be_deleted_by_hand(admin_client: Client) -> None:
    result = db_tasks.add.enqueue(1, 2)
    delete = reverse("admin:django_tasks_database_dbtaskresult_delete", args=[result.id])

    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert DBTaskResult.objects.filter(pk=result.id).exists()
