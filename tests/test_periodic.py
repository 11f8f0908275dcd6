"""Declaring periodic tasks: schedule(), when their ticks come due, and the system check."""

from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from django.core.checks import Error, Warning
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from django_tasks import Task, task
from django_tasks.checks import check_schedules
from django_tasks.periodic import Schedule, schedule

from . import db_tasks

pytestmark = pytest.mark.usefixtures("declared_schedules")


def at(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def ticks(declared: Schedule, after: datetime, count: int) -> list[datetime]:
    found: list[datetime] = []
    tick: datetime | None = after
    for _ in range(count):
        assert tick is not None
        tick = declared.next_tick(tick)
        assert tick is not None
        found.append(tick)
    return found


def loose(some_task: Task[..., Any]) -> Task[..., Any]:
    """The task without its parameters' types: to pass arguments that do not fit."""
    return some_task


# Not a task at the path workers look up: tests.test_periodic.plain is the function.
def plain(count: int) -> int:
    return count


renamed = task(backend="database")(plain)


@task(backend="database")
def redefined(count: int) -> int:
    return count


def _replacement(count: int) -> int:
    return count + 1


first_definition = redefined
redefined = task(backend="database")(_replacement)  # The one workers find by the path.


# --- schedule() -------------------------------------------------------------------


def test_schedule_registers_the_task_with_its_arguments_as_json(
    declared_schedules: list[Schedule],
) -> None:
    declared = schedule(timedelta(minutes=5), db_tasks.echo, ("a", 1))

    assert declared_schedules[-1] is declared
    assert declared.args == [["a", 1]]  # As JSON gives them back.
    assert declared.kwargs == {}
    assert declared.description == "every 5 minutes"


def test_schedule_refuses_arguments_that_are_not_json_as_enqueue_does(
    declared_schedules: list[Schedule],
) -> None:
    before = list(declared_schedules)

    with pytest.raises(TypeError, match=r"Task argument args\[0\] is a datetime.datetime"):
        schedule(timedelta(minutes=5), db_tasks.echo, datetime.now(UTC))

    assert declared_schedules == before


def test_schedule_refuses_what_is_not_a_task() -> None:
    with pytest.raises(TypeError, match="schedule\\(\\) takes a task"):
        schedule(timedelta(minutes=5), cast(Any, plain))


def test_a_cron_schedule_without_cronsim_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, declared_schedules: list[Schedule]
) -> None:
    monkeypatch.setitem(__import__("sys").modules, "cronsim", None)
    before = list(declared_schedules)

    with pytest.raises(ImproperlyConfigured, match=r"install django-tasks\[cron\]"):
        schedule("0 3 * * *", db_tasks.add, 1, 2)

    assert declared_schedules == before


def test_the_key_is_the_same_for_the_same_schedule_and_differs_otherwise() -> None:
    first = schedule("0  3 * * *", db_tasks.add, 1, b=2)
    again = schedule("0 3 * * *", db_tasks.add, 1, b=2)
    other_arguments = schedule("0 3 * * *", db_tasks.add, 1, b=3)
    other_queue = schedule("0 3 * * *", db_tasks.add.using(queue_name="slow"), 1, b=2)
    interval = schedule(timedelta(hours=1), db_tasks.add, 1, b=2)

    assert first.key == again.key
    assert len({first.key, other_arguments.key, other_queue.key, interval.key}) == 4


def test_the_key_is_stable_across_processes() -> None:
    # A digest of the task path, backend, queue, priority, when and arguments: every
    # process computes this value (another one would orphan the schedule's row).
    declared = schedule(timedelta(seconds=1), db_tasks.add, 1, 2)

    assert declared.key == "ae23f781fb05dd3a83e5df70c5064718ad45cf19cf74bdab6b9f03e5b4471229"


# --- when ticks come due ------------------------------------------------------------


def test_interval_ticks_fall_on_multiples_of_the_interval_since_the_epoch() -> None:
    every_five = Schedule(when=timedelta(minutes=5), task=db_tasks.add, args=[1, 2], kwargs={})

    assert ticks(every_five, at(2026, 6, 1, 12, 3, 10), 2) == [
        at(2026, 6, 1, 12, 5),
        at(2026, 6, 1, 12, 10),
    ]
    assert every_five.next_tick(at(2026, 6, 1, 12, 5)) == at(2026, 6, 1, 12, 10)  # After.


def test_a_one_second_interval_ticks_each_second() -> None:
    every_second = Schedule(when=timedelta(seconds=1), task=db_tasks.add, args=[1, 2], kwargs={})
    start = at(2026, 6, 1, 12, 0, 0) + timedelta(milliseconds=400)

    assert ticks(every_second, start, 3) == [
        at(2026, 6, 1, 12, 0, 1),
        at(2026, 6, 1, 12, 0, 2),
        at(2026, 6, 1, 12, 0, 3),
    ]


@override_settings(TIME_ZONE="Europe/Paris")
def test_a_daily_interval_ticks_at_midnight_utc_whatever_the_time_zone() -> None:
    daily = Schedule(when=timedelta(days=1), task=db_tasks.add, args=[1, 2], kwargs={})

    assert daily.next_tick(at(2026, 6, 1, 12)) == at(2026, 6, 2)


@override_settings(TIME_ZONE="Europe/Paris")
def test_cron_ticks_are_in_time_zone() -> None:
    nightly = Schedule(when="0 3 * * *", task=db_tasks.add, args=[1, 2], kwargs={})

    # 03:00 in Paris: 01:00 UTC in summer, 02:00 UTC in winter.
    assert nightly.next_tick(at(2026, 6, 1)) == at(2026, 6, 1, 1)
    assert nightly.next_tick(at(2026, 12, 1)) == at(2026, 12, 1, 2)


@override_settings(TIME_ZONE="Europe/Paris")
def test_a_cron_time_in_the_hour_skipped_by_dst_ticks_when_the_hour_ends() -> None:
    # 2026-03-29: 02:00 becomes 03:00 in Paris; 02:30 does not happen that night.
    nightly = Schedule(when="30 2 * * *", task=db_tasks.add, args=[1, 2], kwargs={})

    assert ticks(nightly, at(2026, 3, 29), 2) == [
        at(2026, 3, 29, 1),  # 03:00 CEST
        at(2026, 3, 30, 0, 30),  # 02:30 CEST
    ]


@override_settings(TIME_ZONE="Europe/Paris")
def test_a_cron_time_in_the_hour_repeated_by_dst_ticks_once() -> None:
    # 2026-10-25: 03:00 becomes 02:00 again in Paris; 02:30 happens twice that night.
    nightly = Schedule(when="30 2 * * *", task=db_tasks.add, args=[1, 2], kwargs={})

    assert ticks(nightly, at(2026, 10, 24, 23), 2) == [
        at(2026, 10, 25, 0, 30),  # 02:30 CEST, the first pass
        at(2026, 10, 26, 1, 30),  # 02:30 CET, the next night
    ]
    # From within the second pass, the next tick is the next night's.
    assert nightly.next_tick(at(2026, 10, 25, 1)) == at(2026, 10, 26, 1, 30)


@override_settings(TIME_ZONE="Europe/Paris")
def test_a_cron_schedule_of_every_few_minutes_keeps_counting_through_a_repeated_hour() -> None:
    half_hourly = Schedule(when="*/30 * * * *", task=db_tasks.add, args=[1, 2], kwargs={})

    # 02:00 and 02:30 CEST, then 02:00 and 02:30 CET: real time, every half hour.
    assert ticks(half_hourly, at(2026, 10, 24, 23, 50), 4) == [
        at(2026, 10, 25, 0),
        at(2026, 10, 25, 0, 30),
        at(2026, 10, 25, 1),
        at(2026, 10, 25, 1, 30),
    ]


def test_the_latest_tick_of_a_span_is_its_last_due_one() -> None:
    every_five = Schedule(when=timedelta(minutes=5), task=db_tasks.add, args=[1, 2], kwargs={})
    hourly = Schedule(when="0 * * * *", task=db_tasks.add, args=[1, 2], kwargs={})

    assert every_five.latest_tick(at(2026, 6, 1, 12), at(2026, 6, 1, 12, 17)) == at(
        2026, 6, 1, 12, 15
    )
    assert hourly.latest_tick(at(2026, 6, 1, 12), at(2026, 6, 1, 15, 59)) == at(2026, 6, 1, 15)
    assert hourly.latest_tick(at(2026, 6, 1, 12), at(2026, 6, 1, 11)) is None


# --- the system check -----------------------------------------------------------------


def errors_of(messages: list[Any]) -> list[str]:
    return [message.msg for message in messages if isinstance(message, Error)]


def test_the_check_passes_good_schedules() -> None:
    schedule("0 3 * * *", db_tasks.add, 1, 2)
    schedule(timedelta(seconds=1), db_tasks.echo, value={"a": 1})

    assert check_schedules() == []


@pytest.mark.parametrize(
    ("when", "problem"),
    [
        ("0 25 * * *", "the cron string '0 25 * * *' is not valid: Bad hour."),
        ("0 3 * *", "has 4 field(s), not the five of cron"),
        (
            "0 0 3 * * *",
            "has 6 field(s), not the five of cron (minute hour day-of-month "
            "month day-of-week) (no seconds: cron's smallest step is a minute).",
        ),
        ("@daily", "has 1 field(s)"),
        ("* * */20 * 1L", "never comes due"),
        (timedelta(milliseconds=500), "is shorter than a second"),
        (300, "when is a int, not a cron string or a timedelta."),
    ],
)
def test_the_check_reports_a_bad_when(when: Any, problem: str) -> None:
    schedule(when, db_tasks.add, 1, 2)

    [message] = check_schedules()

    assert isinstance(message, Error)
    assert message.id == "django_tasks.E010"
    assert problem in message.msg
    assert message.msg.startswith("Periodic schedule tests.db_tasks.add (")


def test_the_check_reports_a_task_workers_cannot_find() -> None:
    schedule(timedelta(minutes=1), renamed, 1)

    assert errors_of(check_schedules()) == [
        "Periodic schedule tests.test_periodic.plain (every 1 minute): workers cannot find "
        "its task: 'tests.test_periodic.plain' is a function, not a task (was its @task "
        "decorator removed?)."
    ]


def test_the_check_reports_a_task_whose_path_names_another_task() -> None:
    schedule(timedelta(minutes=1), first_definition, 1)

    assert errors_of(check_schedules()) == [
        "Periodic schedule tests.test_periodic.redefined (every 1 minute): workers cannot "
        "find its task: tests.test_periodic.redefined names another task than the one "
        "scheduled."
    ]


def test_the_check_reports_arguments_that_do_not_fit() -> None:
    schedule(timedelta(minutes=1), loose(db_tasks.add), 1, c=3)

    [error] = errors_of(check_schedules())

    assert "its arguments do not fit tests.db_tasks.add(a: int, b: int) -> int" in error
    assert "(args=[1], kwargs={'c': 3})" in error


def test_the_check_reports_a_task_whose_backend_is_gone() -> None:
    schedule(timedelta(minutes=1), db_tasks.add, 1, 2)

    with override_settings(
        TASKS={"default": {"BACKEND": "django_tasks.backends.database.DatabaseBackend"}}
    ):
        [error] = errors_of(check_schedules())

    assert "its task's backend is not configured" in error


def test_the_check_warns_when_no_backend_runs_schedules() -> None:
    schedule(timedelta(minutes=1), db_tasks.add, 1, 2)
    dummy_only = {"database": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}

    with override_settings(TASKS=dummy_only):
        [warning] = check_schedules()

    assert isinstance(warning, Warning)
    assert warning.id == "django_tasks.W010"
    assert "no backend in TASKS runs schedules" in warning.msg


def test_the_check_counts_a_schedule_declared_twice_once() -> None:
    schedule("0 25 * * *", db_tasks.add, 1, 2)
    schedule("0 25 * * *", db_tasks.add, 1, 2)

    assert len(check_schedules()) == 1
