"""Smoke test of typing_tests/check.py: code that must type-check clean.

Placeholder, to be replaced by the real typing tests of django_tasks.
"""

from typing import assert_type


def f(x: int) -> int:
    return x + 1


def g(x: str) -> list[str]:
    return [x]


assert_type(f(1), int)
assert_type(g("a"), list[str])
