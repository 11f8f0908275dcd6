"""Results are typed by their task: the return value is T, not anything."""

from datetime import datetime

from django_tasks import Task, TaskResult, TaskResultStatus
from typing_tests.tasks_fixture import add, fetch_title, forget, send_welcome

result = add.enqueue(1, 2)

# return_value is the task's return type.
text: str = result.return_value  # expect-error: int, not str
title: int = fetch_title.enqueue("u").return_value  # expect-error: str, not int
flag: str = send_welcome.enqueue(1).return_value  # expect-error: bool, not str
nothing: int = forget.enqueue().return_value  # expect-error: None, not int
result.return_value.upper()  # expect-error: int has no upper()
called: str = add.call(1, 2)  # expect-error: int, not str
fetched: TaskResult[str] = add.get_result("id")  # expect-error: TaskResult[int]

# Fields have precise types.
result_id: int = result.id  # expect-error: str
finished: datetime = result.finished_at  # expect-error: may be None
status: str = result.status.label  # expect-error: a lazy string
attempts: str = result.attempts  # expect-error: int
worker_id: int = result.worker_ids[0]  # expect-error: str
exception: type[ValueError] = result.errors[0].exception_class  # expect-error: BaseException

# No such methods or fields.
result.nope()  # expect-error: no such method
result.result  # expect-error: it is called return_value
add.run(1, 2)  # expect-error: it is called call()
result.refresh(True)  # expect-error: refresh() takes no arguments
add(1, 2)  # expect-error: a Task is not called directly: use call() or enqueue()

# Results are immutable.
result.status = TaskResultStatus.SUCCESSFUL  # expect-error: frozen

# get_result takes an id.
add.get_result(1)  # expect-error: ids are strings


# acall and aenqueue give awaitables, not values.
value: int = add.acall(1, 2)  # expect-error: missing await
async_value: str = fetch_title.acall("u")  # expect-error: missing await
queued: TaskResult[int] = add.aenqueue(1, 2)  # expect-error: missing await
fetched_async: TaskResult[int] = add.aget_result("id")  # expect-error: missing await


async def awaits_a_value() -> None:
    await fetch_title.call("u")  # expect-error: call() gives the value, even for async tasks


# A task passed where another signature or result type is expected.
def enqueue_for_one(one_int_task: Task[[int], int]) -> TaskResult[int]:
    return one_int_task.enqueue(1)


def collect_texts(results: list[TaskResult[str]]) -> str:
    return "".join(r.return_value for r in results)


enqueue_for_one(add)  # expect-error: add takes two ints
enqueue_for_one(fetch_title)  # expect-error: fetch_title takes a str and returns a str
collect_texts([add.enqueue(1, 2)])  # expect-error: results of an int task
