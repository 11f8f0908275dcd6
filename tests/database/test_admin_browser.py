"""
The task admin in a real browser: Debian's Chromium, driven by Playwright, at a laptop's
1280 px with the navigation sidebar open. `make screenshots` runs the list's test with
DJANGO_TASKS_SCREENSHOTS set to the folder of the README's screenshot, docs/.
"""

import os
from collections.abc import Generator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone
from pytest_django.live_server_helper import LiveServer

from django_tasks import TaskResult

from .. import db_tasks
from ..services import unavailable
from .support import run_worker

try:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import Page, sync_playwright
except ImportError:  # pragma: no cover - the dev and test extras install it.
    pytest.skip("playwright is not installed (pip install -e '.[test]')", allow_module_level=True)

pytestmark = pytest.mark.django_db(transaction=True)

CHROMIUM = "/usr/bin/chromium"
# No network beyond the live server, no first-run or update machinery, no GPU.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WIDTH, HEIGHT = 1280, 900
SCREENSHOTS = os.environ.get("DJANGO_TASKS_SCREENSHOTS", "")

# Links that would add, change or delete a task (the sidebar's links to users are fine).
CONTROLS = ".addlink, .deletelink, .changelink, a[href$='/add/'], a[href$='/delete/']"
CHANGELIST = "admin:django_tasks_database_dbtaskresult_changelist"
CHANGE = "admin:django_tasks_database_dbtaskresult_change"

LONG_MESSAGE = (
    "card declined by the payment provider for order 1001 after 3 tries: "
    + "insufficient_funds; " * 12
    + "see https://payments.example.com/dashboard/orders/1001/attempts/"
    + "x" * 120
    + " END-OF-MESSAGE"
)

# Is the end of `text` inside `selector` where a reader can see it: within the page's
# width and not clipped by a box that hides overflow (a box that scrolls is fine)?
READABLE_JS = """
([selector, text]) => {
    const root = document.querySelector(selector);
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    let node;
    while ((node = walker.nextNode())) {
        const at = node.data.indexOf(text);
        if (at < 0) continue;
        const range = document.createRange();
        range.setStart(node, at);
        range.setEnd(node, at + text.length);
        const rect = range.getBoundingClientRect();
        if (rect.width === 0) return "has no size";
        if (rect.right > document.documentElement.clientWidth) return "runs off the page";
        for (let box = node.parentElement; box; box = box.parentElement) {
            const overflow = getComputedStyle(box).overflowX;
            if (overflow === "auto" || overflow === "scroll") return "ok";
            if (overflow === "visible") continue;
            const outer = box.getBoundingClientRect();
            if (rect.right > outer.right + 1 || rect.left < outer.left - 1) {
                return "clipped by " + box.tagName + "." + box.className;
            }
        }
        return "ok";
    }
    return "not found";
}
"""

# Where each column header ends, against the right edge of the box the table scrolls in.
COLUMNS_JS = """
() => {
    const box = document.querySelector("#changelist .results");
    const right = box.getBoundingClientRect().right;
    return Array.from(document.querySelectorAll("#result_list thead th")).map(
        (th) => [th.innerText.trim(), th.getBoundingClientRect().right <= right + 0.5]
    );
}
"""


@contextmanager
def admin_page(live_server: LiveServer) -> Generator[Page]:
    """A browser tab logged in to the admin through its form, at 1280 x 900."""
    if not Path(CHROMIUM).exists():
        unavailable(f"Chromium is not installed at {CHROMIUM} (scripts/system-packages)")
    # Made before Playwright starts: its event loop would make Django refuse ORM calls.
    User.objects.create_superuser("oncall", "oncall@example.com", "night-shift")
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        except PlaywrightError as e:
            unavailable(f"Chromium at {CHROMIUM} does not start: {e}")
        try:
            page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
            page.goto(live_server.url + reverse("admin:login"))
            page.fill("#id_username", "oncall")
            page.fill("#id_password", "night-shift")
            page.click("input[type=submit]")
            page.wait_for_selector("#site-name")
            yield page
        finally:
            browser.close()


def open_admin(page: Page, live_server: LiveServer, url: str) -> None:
    response = page.goto(live_server.url + url)
    assert response is not None
    assert response.status == 200


def screenshot(page: Page, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / name))


def tasks_of_a_bad_night() -> tuple[TaskResult[Any], TaskResult[Any]]:
    """A FAILED task with a long message and a SUCCESSFUL one that returned a dict."""
    failed = db_tasks.fail.enqueue(LONG_MESSAGE)
    succeeded = db_tasks.echo.enqueue({"order": 1001, "status": "refunded", "lines": [1, 2]})
    db_tasks.add.using(queue_name="emails").enqueue(1, 2)
    db_tasks.add.using(run_after=timezone.now() + timedelta(days=2)).enqueue(2, 3)
    run_worker(queue_names=["default"])
    return failed, succeeded


def test_failed_task_page_shows_the_whole_error_message(live_server: LiveServer) -> None:
    failed, _succeeded = tasks_of_a_bad_night()

    with admin_page(live_server) as page:
        open_admin(page, live_server, reverse(CHANGE, args=[failed.id]))

        assert page.evaluate(READABLE_JS, [".field-formatted_traceback", "END-OF-MESSAGE"]) == "ok"
        assert page.evaluate(READABLE_JS, [".field-error_summary", "END-OF-MESSAGE"]) == "ok"


def test_successful_task_page_shows_its_dict_return_value_and_named_arguments(
    live_server: LiveServer,
) -> None:
    _failed, succeeded = tasks_of_a_bad_night()

    with admin_page(live_server) as page:
        open_admin(page, live_server, reverse(CHANGE, args=[succeeded.id]))

        result = page.locator(".field-formatted_return_value pre")
        assert result.is_visible()
        assert '"status": "refunded"' in result.inner_text()
        assert page.locator(".field-formatted_arguments th").all_inner_texts() == ["value"]


def test_list_fits_at_1280px_with_the_sidebar_open(live_server: LiveServer) -> None:
    tasks_of_a_bad_night()

    with admin_page(live_server) as page:
        open_admin(page, live_server, reverse(CHANGELIST))
        screenshot(page, "admin-list.png")

        assert page.locator("#nav-sidebar").is_visible()
        columns = page.evaluate(COLUMNS_JS)
        assert [name for name, _fits in columns] == [
            "",  # The action's checkboxes: "Retry".
            "ID",
            "STATUS",
            "TASK",
            "QUEUE",
            "ENQUEUED / DUE (UTC)",
            "FINISHED (UTC)",
            "DURATION",
            "ATTEMPTS",
        ]
        assert [name for name, fits in columns if not fits] == []
        assert page.evaluate(READABLE_JS, ["#result_list", "card declined"]) == "ok"


def test_no_control_adds_changes_or_deletes_a_task_and_the_one_action_retries(
    live_server: LiveServer,
) -> None:
    failed, _succeeded = tasks_of_a_bad_night()

    with admin_page(live_server) as page:
        open_admin(page, live_server, reverse(CHANGELIST))
        list_count = page.locator(f"#content :is({CONTROLS})").count()
        actions = page.locator("#content select[name=action] option").all_inner_texts()
        open_admin(page, live_server, reverse(CHANGE, args=[failed.id]))
        page_controls = page.locator(
            f"#content :is({CONTROLS}), #content-main form :is(input, button, select,"
            " textarea):not([type=hidden])"
        )
        page_count = page_controls.count()

    assert (list_count, page_count) == (0, 0)
    assert actions[1:] == ["Retry selected failed tasks"]  # After the blank choice.
