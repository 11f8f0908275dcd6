"""schedule() takes the task's own parameters, and returns a Schedule."""

from datetime import timedelta
from typing import assert_type

from django_tasks.periodic import Schedule, schedule
from typing_tests.tasks_fixture import add, count_attempts, fetch_title, forget, send_welcome

assert_type(schedule("0 3 * * *", add, 1, 2), Schedule)
assert_type(schedule(timedelta(minutes=5), forget), Schedule)
assert_type(schedule("*/5 * * * *", add, a=1, b=2), Schedule)
assert_type(schedule(timedelta(hours=1), send_welcome, 42), Schedule)
assert_type(schedule(timedelta(hours=1), send_welcome, 42, locale="fr"), Schedule)
# async tasks, and takes_context tasks without their context.
assert_type(schedule(timedelta(seconds=1), fetch_title, "https://example.com"), Schedule)
assert_type(schedule(timedelta(seconds=1), count_attempts, "label"), Schedule)
assert_type(schedule(timedelta(seconds=1), add.using(priority=5), 1, 2), Schedule)

declared = schedule("0 3 * * *", add, 1, 2)
assert_type(declared.key, str)
assert_type(declared.when, str | timedelta)
