"""The async API: an `async def` task is typed by its awaited value, never a coroutine."""

from typing import assert_type

from django_tasks import TaskResult
from typing_tests.tasks_fixture import add, fetch_title, send_welcome

# Sync callers of an async task get the value itself.
assert_type(fetch_title.enqueue("u"), TaskResult[str])
assert_type(fetch_title.enqueue("u").return_value, str)
assert_type(fetch_title.call("u"), str)
assert_type(fetch_title.get_result("id"), TaskResult[str])


async def main() -> None:
    # Async callers, of async and sync tasks alike.
    assert_type(await fetch_title.aenqueue("u"), TaskResult[str])
    assert_type(await fetch_title.aenqueue(url="u"), TaskResult[str])
    assert_type((await fetch_title.aenqueue("u")).return_value, str)
    assert_type(await fetch_title.acall("u"), str)
    assert_type(await fetch_title.aget_result("id"), TaskResult[str])
    assert_type(await add.aenqueue(1, 2), TaskResult[int])
    assert_type(await add.acall(1, 2), int)
    assert_type(await add.aget_result("id"), TaskResult[int])
    assert_type(await send_welcome.aenqueue(1, locale="fr"), TaskResult[bool])
    assert_type(await send_welcome.using(priority=2).acall(1), bool)

    # Without await, the a-methods give awaitables of the same types.
    pending_call = fetch_title.acall("u")
    pending_enqueue = add.aenqueue(1, 2)
    assert_type(await pending_call, str)
    assert_type(await pending_enqueue, TaskResult[int])

    result = await fetch_title.aenqueue("u")
    assert_type(await result.arefresh(), None)
    assert_type(result.return_value, str)
