"""A task module that nothing imports: resolve_task must not import it for a stored path."""

from django_tasks import task


@task
def late() -> str:
    return "late"
