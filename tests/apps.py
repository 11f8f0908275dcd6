from importlib import import_module

from django.apps import AppConfig


class TestsConfig(AppConfig):
    name = "tests"

    def ready(self) -> None:
        # Workers resolve stored task paths among loaded modules only (resolve_task), so
        # the suites' task modules load at start-up, as a project's tasks.py does: worker
        # subprocesses then find their tasks.
        for module in ("tests.db_tasks", "tests.rq_tasks", "tests.retry_tasks"):
            import_module(module)
