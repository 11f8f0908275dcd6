"""
Durations as settings and arguments give them: a number of seconds (never a bool), or,
where a timedelta is welcome, a timedelta. One check for every option that takes one;
each caller words its own error.
"""

from __future__ import annotations

import math
from datetime import timedelta


def seconds_of(value: object, *, zero: bool = False, timedeltas: bool = True) -> float | None:
    """
    `value` in seconds if it is a finite number (or a timedelta, if `timedeltas`) above
    0, or at least 0 if `zero`; None if it is anything else.
    """
    if isinstance(value, timedelta) and timedeltas:
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        try:
            seconds = float(value)
        except OverflowError:  # An int beyond any float.
            return None
    else:
        return None
    if not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not zero):
        return None
    return seconds
