"""The demo's tasks: each one's arguments are checked by mypy and pyright at enqueue."""

import asyncio

from django_tasks import TaskContext, task


@task(priority=10, queue_name="emails")
def send_welcome(user_id: int, *, locale: str = "en") -> bool:
    greeting = {"en": "Welcome", "fr": "Bienvenue"}.get(locale, "Welcome")
    print(f"    [worker] {greeting}, user {user_id}!")
    return locale in ("en", "fr")


@task
def total(prices: list[float], discount: float = 0.0) -> float:
    return round(sum(prices) * (1 - discount), 2)


@task
async def fetch_rate(currency: str) -> dict[str, float]:
    await asyncio.sleep(0.01)  # Stands in for an HTTP call.
    return {currency: {"EUR": 1.0, "USD": 1.08}.get(currency, 1.0)}


@task(takes_context=True)
def report_attempt(context: TaskContext, name: str) -> str:
    return f"{name}: attempt {context.attempt} of result {context.task_result.id[:8]}"


@task
def charge(order_id: int) -> str:
    raise RuntimeError(f"card declined for order {order_id}")
