"""schedule() checks the arguments against the task's parameters, and `when`."""

from datetime import datetime, timedelta

from django_tasks.periodic import schedule
from typing_tests.tasks_fixture import add, count_attempts, forget, send_welcome


def plain(a: int) -> int:
    return a


# Wrong argument types.
schedule("0 3 * * *", add, 1, "2")  # expect-error: str is not int
schedule(timedelta(minutes=5), send_welcome, 42, locale=1)  # expect-error: locale is a str

# Missing arguments.
schedule("0 3 * * *", add, 1)  # expect-error: b is missing
schedule(timedelta(minutes=5), send_welcome)  # expect-error: user_id is missing

# Unknown keywords, too many arguments.
schedule("0 3 * * *", add, 1, 2, c=3)  # expect-error: no parameter c
schedule("0 3 * * *", forget, None)  # expect-error: no parameters at all
schedule(timedelta(minutes=5), send_welcome, 42, "fr")  # expect-error: locale is keyword-only
schedule("0 3 * * *", count_attempts, None, "label")  # expect-error: the context is not passed

# `when` is a cron string or a timedelta, given first.
schedule(300, add, 1, 2)  # expect-error: seconds as an int
schedule(datetime(2026, 1, 1), add, 1, 2)  # expect-error: a datetime is not a schedule
schedule(add, "0 3 * * *", 1, 2)  # expect-error: the task comes second
schedule(when="0 3 * * *", task=add)  # expect-error: when and task are positional-only

# Only tasks are scheduled.
schedule("0 3 * * *", plain, 1)  # expect-error: a plain function is not a task
