"""Tasks as a user module would define them, shared by the typing tests.

Type-checked only, never imported at runtime: defining a task validates it against
the configured backend, which needs Django settings.
"""

from django_tasks import TaskContext, task


@task
def add(a: int, b: int) -> int:
    return a + b


@task
async def fetch_title(url: str) -> str:
    return url


@task(queue_name="emails")
def send_welcome(user_id: int, *, locale: str = "en") -> bool:
    return bool(user_id) and bool(locale)


@task(takes_context=True)
def count_attempts(context: TaskContext, label: str) -> int:
    return context.attempt if label else 0


@task(takes_context=True)
async def report_progress(context: TaskContext, steps: list[int]) -> dict[str, int]:
    return {context.task_result.id: len(steps)}


# Positional-only parameters carry no names in the type, so the whole Task type can
# be written down: Task[[int, int], float].
@task
def ratio(numerator: int, denominator: int, /) -> float:
    return numerator / denominator


@task
def forget() -> None:
    pass
