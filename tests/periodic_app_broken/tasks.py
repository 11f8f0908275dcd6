from django_tasks import task
from django_tasks.periodic import schedule


@task(backend="database")
def nightly() -> None:
    pass


schedule("0 25 * * *", nightly)
