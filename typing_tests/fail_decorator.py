"""The decorator's keywords are explicit, and tasks are immutable."""

from datetime import datetime

from django_tasks import task
from typing_tests.tasks_fixture import add


@task(priorty=1)  # expect-error: misspelt keyword
def misspelt_priority(n: int) -> int:
    return n


@task(queue="emails")  # expect-error: the keyword is queue_name
def misspelt_queue_name(n: int) -> int:
    return n


@task(run_after=datetime(2030, 1, 1))  # expect-error: run_after is only for using()
def deferred_by_decorator(n: int) -> int:
    return n


@task(priority="high")  # expect-error: priority is an int
def priority_as_text(n: int) -> int:
    return n


@task(queue_name=None)  # expect-error: queue_name is a str
def queue_name_none(n: int) -> int:
    return n


@task(backend=1)  # expect-error: backend is an alias (str)
def backend_as_int(n: int) -> int:
    return n


@task(enqueue_on_commit="yes")  # expect-error: enqueue_on_commit is a bool or None
def enqueue_on_commit_as_text(n: int) -> int:
    return n


# The function is positional-only: the options cannot be passed with it.
task(add.func, priority=1)  # expect-error: options go to task(...), not next to the function

# using() takes the same kind of values, and no others.
add.using(priority="high")  # expect-error: priority is an int
add.using(run_after="tomorrow")  # expect-error: run_after is a datetime
add.using(takes_context=True)  # expect-error: using() cannot change the signature
add.using(1)  # expect-error: using() is keyword-only

# Tasks are immutable.
add.priority = 1  # expect-error: frozen
add.queue_name = "other"  # expect-error: frozen
