"""Tasks declared with our @task, for the third-party backends to run."""

from django_tasks import TaskContext, task


class Refused(Exception):
    pass


@task
def add(a: int, b: int) -> int:
    return a + b


@task
def refuse(reason: str) -> None:
    raise Refused(reason)


@task(takes_context=True)
def describe(context: TaskContext, label: str) -> dict[str, object]:
    return {"label": label, "attempt": context.attempt}


@task(backend="rq")
def multiply(a: int, b: int) -> int:
    return a * b


@task(backend="rq")
def refuse_on_rq(reason: str) -> None:
    raise Refused(reason)


@task(backend="rq")
def pair(first: object, second: object) -> list[object]:
    return [first, second]
