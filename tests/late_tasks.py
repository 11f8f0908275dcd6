"""A task module that nothing imports up front (for the tests of resolve_task)."""

from django_tasks import task


@task
def late() -> str:
    return "late"
