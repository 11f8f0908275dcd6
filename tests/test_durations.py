from datetime import timedelta

import pytest

from django_tasks.durations import seconds_of


@pytest.mark.parametrize(
    ("value", "options", "seconds"),
    [
        (1, {}, 1.0),
        (0.5, {}, 0.5),
        (timedelta(minutes=1), {}, 60.0),
        (0, {"zero": True}, 0.0),
        (timedelta(0), {"zero": True}, 0.0),
        (0, {}, None),
        (-1, {"zero": True}, None),
        (timedelta(seconds=-1), {}, None),
        (float("inf"), {}, None),
        (10**400, {}, None),
        (float("nan"), {"zero": True}, None),
        (True, {}, None),
        ("5", {}, None),
        (None, {}, None),
        (timedelta(seconds=5), {"timedeltas": False}, None),
    ],
)
def test_seconds_of_takes_finite_non_negative_numbers_and_timedeltas_only(
    value: object, options: dict[str, bool], seconds: float | None
) -> None:
    assert seconds_of(value, **options) == seconds
