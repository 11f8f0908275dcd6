"""The RQ backend: misuse that the type checkers reject."""

from django_tasks.backends.rq import RQBackend
from typing_tests.tasks_fixture import add

backend = RQBackend(alias="rq", params={})
backend.queue(1)  # expect-error: a queue name is a str
backend.enqueue(add, 1, 2)  # expect-error: args are one sequence, kwargs one mapping
result: str = backend.enqueue(add, [1, 2], {}).return_value  # expect-error: int, not str
