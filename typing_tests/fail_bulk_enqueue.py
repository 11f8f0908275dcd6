"""bulk_enqueue: calls that do not fit the task's signature are rejected."""

from django_tasks import bulk_enqueue
from typing_tests.tasks_fixture import add, count_attempts, send_welcome

with bulk_enqueue() as batch:
    batch.enqueue(add, 1, "2")  # expect-error: str is not int
    batch.enqueue(add, 1)  # expect-error: missing b
    batch.enqueue(send_welcome, 1, "fr")  # expect-error: locale is keyword-only
    batch.enqueue(send_welcome, 1, language="fr")  # expect-error: no such keyword
    batch.enqueue(count_attempts, context=None, label="x")  # expect-error: context is not passed
    result: str = batch.enqueue(add, 1, 2).return_value  # expect-error: int, not str
