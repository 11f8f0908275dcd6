"""The read-only admin of the task table."""

import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from django_tasks import TaskResult, TaskResultStatus
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


def test_changelist_filters_by_status_queue_backend_and_time(admin_client: Client) -> None:
    response = admin_client.get(reverse(CHANGELIST))

    titles = [spec.title for spec in response.context["cl"].filter_specs]
    assert titles == ["status", "queue name", "backend name", "enqueued", "finished"]


def test_tasks_cannot_be_deleted_by_hand(admin_client: Client) -> None:
    result = db_tasks.add.enqueue(1, 2)
    delete = reverse("admin:django_tasks_database_dbtaskresult_delete", args=[result.id])

    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert DBTaskResult.objects.filter(pk=result.id).exists()


def test_changelist_searches_by_full_id(admin_client: Client) -> None:
    wanted = db_tasks.add.enqueue(1, 2)
    other = db_tasks.add.enqueue(3, 4)

    html = page(admin_client, reverse(CHANGELIST) + f"?q={wanted.id}")

    assert str(wanted.id) in html
    assert str(other.id) not in html


def test_changelist_searches_by_id_prefix_as_the_list_shows_it(admin_client: Client) -> None:
    wanted = db_tasks.add.enqueue(1, 2)
    others = [db_tasks.add.enqueue(3, 4) for _ in range(5)]
    short_id = str(wanted.id)[:8]

    response = admin_client.get(reverse(CHANGELIST), {"q": short_id})

    found = [str(row.id) for row in response.context["cl"].result_list]
    assert str(wanted.id) in found
    assert not {str(other.id) for other in others if not str(other.id).startswith(short_id)} & set(
        found
    )


def test_changelist_searches_by_id_prefix_with_hyphens_or_without(admin_client: Client) -> None:
    wanted = db_tasks.add.enqueue(1, 2)
    with_hyphen = str(wanted.id)[:13]  # 8 digits, a hyphen, 4 digits.

    for term in (with_hyphen, with_hyphen.replace("-", ""), with_hyphen.upper()):
        response = admin_client.get(reverse(CHANGELIST), {"q": term})
        assert [str(row.id) for row in response.context["cl"].result_list] == [str(wanted.id)]


def test_changelist_searches_by_queue(admin_client: Client) -> None:
    db_tasks.add.using(queue_name="emails").enqueue(1, 2)
    db_tasks.echo.enqueue("x")

    html = page(admin_client, reverse(CHANGELIST) + "?q=emails")

    assert "tests.db_tasks.add" in html
    assert "tests.db_tasks.echo" not in html


def test_changelist_filters_by_enqueue_time(admin_client: Client) -> None:
    recent = db_tasks.add.enqueue(1, 2)
    old = db_tasks.echo.enqueue("x")
    DBTaskResult.objects.filter(pk=old.id).update(enqueued_at=timezone.now() - timedelta(days=2))

    last_day = page(admin_client, reverse(CHANGELIST) + "?enqueued=24h")
    last_week = page(admin_client, reverse(CHANGELIST) + "?enqueued=7d")

    assert str(recent.id) in last_day
    assert str(old.id) not in last_day
    assert str(old.id) in last_week


def test_changelist_filters_by_finish_time(admin_client: Client) -> None:
    db_tasks.add.enqueue(1, 2)
    run_worker()
    waiting = db_tasks.echo.enqueue("x")

    html = page(admin_client, reverse(CHANGELIST) + "?finished=1h")

    assert "tests.db_tasks.add" in html
    assert str(waiting.id) not in html


def test_changelist_shows_the_error_of_failed_rows(admin_client: Client) -> None:
    db_tasks.fail.enqueue("card declined")
    run_worker()

    html = page(admin_client, reverse(CHANGELIST))

    assert "ValueError: card declined" in html


def test_changelist_shows_times_to_the_second_in_the_time_zone_it_names(
    admin_client: Client,
) -> None:
    result = db_tasks.add.enqueue(1, 2)
    enqueued = datetime(2026, 7, 1, 10, 15, 42, tzinfo=UTC)
    DBTaskResult.objects.filter(pk=result.id).update(enqueued_at=enqueued)

    with override_settings(TIME_ZONE="Europe/Paris"):
        html = page(admin_client, reverse(CHANGELIST))

    assert "Enqueued / due (Europe/Paris)" in html
    assert "2026-07-01<br>12:15:42" in html


def test_changelist_shows_when_a_deferred_task_is_due(admin_client: Client) -> None:
    due = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)
    db_tasks.add.using(run_after=due).enqueue(1, 2)

    html = page(admin_client, reverse(CHANGELIST))

    assert "2031-01-02<br>03:04:05" in html


def test_changelist_shows_how_long_the_latest_attempt_ran(admin_client: Client) -> None:
    result = db_tasks.add.enqueue(1, 2)
    run_worker()
    row = DBTaskResult.objects.get(pk=result.id)
    assert row.last_attempted_at is not None
    row.finished_at = row.last_attempted_at + timedelta(minutes=3, seconds=4)
    row.save()

    assert "3 min 04 s" in page(admin_client, reverse(CHANGELIST))


def test_changelist_shows_a_short_id_with_the_full_one_on_hover(admin_client: Client) -> None:
    result = db_tasks.add.enqueue(1, 2)

    html = page(admin_client, reverse(CHANGELIST))

    assert f'<code title="{result.id}">{str(result.id)[:8]}</code>' in html


def test_change_page_names_arguments_by_parameter(admin_client: Client) -> None:
    result = db_tasks.add.enqueue(1, b=2)

    html = change_page(admin_client, result)

    assert '<th scope="row"><code>a</code></th><td><pre class="dt-pre dt-json">1</pre>' in html
    assert '<th scope="row"><code>b</code></th><td><pre class="dt-pre dt-json">2</pre>' in html


def test_change_page_shows_arguments_as_stored_when_the_task_does_not_import(
    admin_client: Client,
) -> None:
    result = db_tasks.add.enqueue(1, b=2)
    DBTaskResult.objects.filter(pk=result.id).update(task_path="tests.db_tasks.renamed")

    html = change_page(admin_client, result)

    assert "<code>args</code>" in html
    assert "<code>kwargs</code>" in html
    assert "the task does not import here" in html


def test_change_page_imports_no_module_outside_installed_apps(admin_client: Client) -> None:
    result = db_tasks.add.enqueue(1, 2)
    DBTaskResult.objects.filter(pk=result.id).update(task_path="antigravity.fly")

    change_page(admin_client, result)

    assert "antigravity" not in sys.modules


def test_change_page_says_so_when_a_task_takes_no_arguments(admin_client: Client) -> None:
    result = db_tasks.returns_nul.enqueue()

    html = change_page(admin_client, result)

    assert '<span class="dt-none">None</span>' in html
    assert 'dt-json">[]' not in html
    assert 'dt-json">{}' not in html


def test_change_page_of_a_failed_task_shows_no_return_value(admin_client: Client) -> None:
    result = db_tasks.fail.enqueue("no")
    run_worker()

    html = change_page(admin_client, result)

    assert "Return value" not in html
    assert "null" not in html


def test_change_page_of_a_successful_task_shows_no_error(admin_client: Client) -> None:
    result = db_tasks.add.enqueue(1, 2)
    run_worker()

    html = change_page(admin_client, result)

    assert "Return value" in html
    assert "Traceback" not in html


def test_change_page_folds_long_json_under_a_short_preview(admin_client: Client) -> None:
    result = db_tasks.echo.enqueue([{"sku": i, "qty": 1} for i in range(50)])
    run_worker()

    html = change_page(admin_client, result)

    assert '<details class="dt-fold"><summary><code>[{&quot;' in html
    assert "(52 lines)" in html  # One per item, and the brackets.


def test_change_page_fills_lines_with_a_long_list_of_numbers(admin_client: Client) -> None:
    result = db_tasks.echo.enqueue(list(range(200)))
    run_worker()

    html = change_page(admin_client, result)

    assert "(12 lines)" not in html
    assert "0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10," in html


def test_change_page_shows_times_to_the_millisecond_with_their_zone(admin_client: Client) -> None:
    result = db_tasks.add.enqueue(1, 2)
    enqueued = datetime(2026, 1, 1, 10, 15, 42, 123456, tzinfo=UTC)
    DBTaskResult.objects.filter(pk=result.id).update(enqueued_at=enqueued)

    with override_settings(TIME_ZONE="Europe/Paris"):
        html = change_page(admin_client, result)

    assert "2026-01-01 11:15:42.123 CET" in html


def test_changelist_shows_the_call_with_its_arguments_on_hover(admin_client: Client) -> None:
    db_tasks.add.enqueue(1, b=2)

    html = page(admin_client, reverse(CHANGELIST))

    assert 'title="tests.db_tasks.add(1, b=2)"' in html


# --- the "Retry" action ----------------------------------------------------------


def staff_client(*permissions: str) -> Client:
    user = User.objects.create_user("operator", "operator@example.com", "pw", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="django_tasks_database", codename__in=permissions
        )
    )
    client = Client()
    client.force_login(user)
    return client


def retry(client: Client, *results: TaskResult[Any]) -> list[str]:
    """Run the action on `results` from the list; the messages it leaves."""
    response = client.post(
        reverse(CHANGELIST),
        {"action": "retry", "_selected_action": [result.id for result in results]},
        follow=True,
    )
    assert response.status_code == 200
    return [str(message) for message in response.context["messages"]]


def test_retry_makes_failed_tasks_ready_and_due_now_keeping_their_errors(
    admin_client: Client,
) -> None:
    failed = db_tasks.fail.enqueue("no")
    run_worker()
    before = timezone.now()

    assert retry(admin_client, failed) == ["1 task will run again."]

    row = DBTaskResult.objects.get(pk=failed.id)
    assert (row.status, row.finished_at) == (TaskResultStatus.READY, None)
    assert before <= row.available_at <= timezone.now()
    assert len(row.errors) == 1
    assert len(row.worker_ids) == 1


def test_the_attempt_after_a_retry_is_recorded_as_a_new_one(admin_client: Client) -> None:
    failed = db_tasks.fail.enqueue("no")
    run_worker(worker_id="first")
    retry(admin_client, failed)

    run_worker(worker_id="second")

    again = db_tasks.fail.get_result(failed.id)
    assert again.status == TaskResultStatus.FAILED
    assert again.worker_ids == ["first", "second"]
    assert [error.exception_class for error in again.errors] == [ValueError, ValueError]


def test_retry_leaves_tasks_that_did_not_fail_as_they_are(admin_client: Client) -> None:
    failed = db_tasks.fail.enqueue("no")
    succeeded = db_tasks.add.enqueue(1, 2)
    run_worker()
    ready = db_tasks.add.enqueue(3, 4)

    assert retry(admin_client, failed, succeeded, ready) == [
        "1 task will run again.",
        "2 selected tasks were not retried: only FAILED tasks can be.",
    ]

    assert DBTaskResult.objects.get(pk=succeeded.id).status == TaskResultStatus.SUCCESSFUL
    assert DBTaskResult.objects.get(pk=ready.id).status == TaskResultStatus.READY


def test_a_user_with_the_change_permission_gets_the_action_and_a_read_only_page() -> None:
    client = staff_client("view_dbtaskresult", "change_dbtaskresult")
    failed = db_tasks.fail.enqueue("no")
    run_worker()

    listed = page(client, reverse(CHANGELIST))
    assert 'value="retry"' in listed
    assert "Select task result to view" in listed
    assert 'name="_save"' not in change_page(client, failed)
    assert client.post(reverse(CHANGE, args=[failed.id]), {}).status_code == 403
    assert retry(client, failed) == ["1 task will run again."]


def test_a_user_without_the_change_permission_gets_no_action() -> None:
    client = staff_client("view_dbtaskresult")
    failed = db_tasks.fail.enqueue("no")
    run_worker()

    html = page(client, reverse(CHANGELIST))
    retry(client, failed)

    assert 'name="action"' not in html
    assert DBTaskResult.objects.get(pk=failed.id).status == TaskResultStatus.FAILED


def test_change_page_shows_the_earlier_attempts_errors_too(admin_client: Client) -> None:
    failed = db_tasks.fail.enqueue("no")
    DBTaskResult.objects.filter(pk=failed.id).update(
        errors=[{"exception_class_path": "builtins.ConnectionError", "traceback": "Earlier!\n"}]
    )
    run_worker()

    html = change_page(admin_client, failed)

    assert "ValueError: no" in html
    assert "Earlier!" in html
    assert "earlier errors" in html.lower()
