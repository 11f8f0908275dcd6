from datetime import timedelta

from django_tasks import task
from django_tasks.periodic import schedule


@task(backend="database")
def every_second(label: str) -> str:
    return label


schedule(timedelta(seconds=1), every_second, "tick")
