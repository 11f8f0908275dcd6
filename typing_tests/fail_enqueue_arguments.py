"""enqueue, aenqueue, call and acall take exactly the function's parameters."""

from django_tasks import TaskResult
from typing_tests.tasks_fixture import add, fetch_title, forget, send_welcome

# Wrong argument types.
add.enqueue(1, "2")  # expect-error: str is not int
add.enqueue(a=1.5, b=2)  # expect-error: float is not int
add.call(None, 2)  # expect-error: None is not int
send_welcome.enqueue(42, locale=1)  # expect-error: locale is a str
fetch_title.enqueue(b"https://example.com")  # expect-error: bytes is not str

# Missing arguments.
add.enqueue(1)  # expect-error: b is missing
add.enqueue()  # expect-error: a and b are missing
send_welcome.enqueue(locale="fr")  # expect-error: user_id is missing
add.call(b=2)  # expect-error: a is missing

# Unknown keyword arguments.
add.enqueue(1, 2, c=3)  # expect-error: no parameter c
send_welcome.enqueue(42, language="fr")  # expect-error: no parameter language
add.enqueue(1, 2, priority=5)  # expect-error: priority belongs to using(), not enqueue()

# Too many positional arguments.
add.enqueue(1, 2, 3)  # expect-error: two parameters
forget.enqueue(None)  # expect-error: no parameters at all
add.call(1, 2, 3)  # expect-error: two parameters

# A keyword-only parameter passed positionally.
send_welcome.enqueue(42, "fr")  # expect-error: locale is keyword-only
send_welcome.call(42, "fr")  # expect-error: locale is keyword-only

# Arguments given twice.
add.enqueue(1, 2, a=1)  # expect-error: a given twice


async def enqueue_async() -> None:
    await add.aenqueue(1, "2")  # expect-error: str is not int
    await fetch_title.aenqueue()  # expect-error: url is missing
    await fetch_title.acall("u", timeout=3)  # expect-error: no parameter timeout
    await send_welcome.acall(42, "fr")  # expect-error: locale is keyword-only


# enqueue's result is typed by the task: it is not another task's result.
wrong_result: TaskResult[str] = add.enqueue(1, 2)  # expect-error: TaskResult[int]
