"""Smoke test of typing_tests/check.py: each marked line must be rejected.

Placeholder, to be replaced by the real typing tests of django_tasks.
"""


def f(x: int) -> int:
    return x + 1


f(1)
f("a")  # expect-error: str is not int
y: str = f(2)  # expect-error
