"""Tasks that fail on purpose, for the tests of retries and timeouts (any backend alias)."""

import asyncio
import time
from collections import Counter
from typing import cast

from django_tasks import TaskContext, TaskResultStatus, task
from django_tasks.backoff import constant

# How many times each label's flaky task has been called, in this process.
calls: Counter[str] = Counter()

# The signals a task sends that fails once and then succeeds, with the result's status
# as each is sent: the same on every backend that runs tasks.
SIGNALS_OF_ONE_RETRY = [
    ("enqueued", TaskResultStatus.READY),
    ("started", TaskResultStatus.RUNNING),
    ("finished", TaskResultStatus.READY),  # To be retried.
    ("started", TaskResultStatus.RUNNING),
    ("finished", TaskResultStatus.SUCCESSFUL),
]


@task(max_attempts=3, backoff=constant(0))
def flaky(label: str, failures: int) -> str:
    """Fails its first `failures` calls for `label`, then returns."""
    calls[label] += 1
    if calls[label] <= failures:
        raise ConnectionError(f"{label}: failure {calls[label]}")
    return f"{label}: done on call {calls[label]}"


@task(max_attempts=2, backoff=constant(60))
def fails_then_waits(label: str) -> None:
    raise ConnectionError(label)


@task(max_attempts=3, backoff=constant(0, retry_on=(ConnectionError,)))
def fails_with(message: str) -> None:
    raise ValueError(message)


@task(max_attempts=3, backoff=constant(0), takes_context=True)
def attempt_number(context: TaskContext) -> int:
    if context.attempt < 3:
        raise ConnectionError(f"attempt {context.attempt}")
    return context.attempt


@task(timeout=0.3)
def spins(seconds: float) -> str:
    """Python code that runs for `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.01)
    return "finished"


@task(timeout=0.3)
async def sleeps(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "finished"


@task(timeout=0.3, max_attempts=2, backoff=constant(0))
def always_too_slow() -> None:
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        time.sleep(0.01)


def broken_backoff(exc: BaseException, result: object) -> float:
    raise LookupError("no delay for you")


@task(max_attempts=3, backoff=broken_backoff)
def with_broken_backoff() -> None:
    raise ConnectionError("first")


def nonsense_backoff(exc: BaseException, result: object) -> float:
    return cast(float, "soon")  # What a careless backoff might return.


@task(max_attempts=3, backoff=nonsense_backoff)
def with_nonsense_backoff() -> None:
    raise ConnectionError("first")


@task(timeout=0.3)
def blocks_in_c(seconds: float) -> None:
    """One call into C that does not come back to Python until it is done."""
    time.sleep(seconds)
