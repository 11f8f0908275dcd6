import logging
import os
import threading
from argparse import ArgumentParser
from collections.abc import Generator
from contextlib import contextmanager
from typing import Any

from django.core.management.base import BaseCommand, CommandError, OutputWrapper
from django.utils import autoreload

from django_tasks.backends.database.exceptions import WorkerInterrupted
from django_tasks.backends.database.management import arguments
from django_tasks.backends.database.records import MAX_NAME_LENGTH
from django_tasks.backends.database.worker import Worker
from django_tasks.base import DEFAULT_TASK_BACKEND_ALIAS, DEFAULT_TASK_QUEUE_NAME

# Verbosity -> (level of django_tasks, level of this backend's own logger)
LOG_LEVELS = {
    0: (logging.WARNING, logging.WARNING),
    1: (logging.WARNING, logging.INFO),  # One line per task, and the worker's own news.
    2: (logging.DEBUG, logging.DEBUG),
}


class Command(BaseCommand):
    help = (
        "Run the tasks of a database task backend. SIGTERM or SIGINT stops it after the "
        "running tasks; a second one stops it at once, failing them."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--queue-name",
            default=DEFAULT_TASK_QUEUE_NAME,
            type=arguments.queue_names,
            help="The queues to run, separated by commas, or '*' for all (default: %(default)s).",
        )
        parser.add_argument(
            "--interval",
            default=1.0,
            type=arguments.interval,
            help="Seconds between looks at the table when idle (default: %(default)s). On "
            "PostgreSQL and SQLite, new tasks also wake the worker.",
        )
        parser.add_argument(
            "--batch",
            action="store_true",
            help="Exit when no task is ready, instead of waiting for more.",
        )
        parser.add_argument(
            "--max-tasks",
            type=arguments.max_tasks,
            default=None,
            help="Exit after running this many tasks.",
        )
        parser.add_argument(
            "--concurrency",
            type=arguments.concurrency,
            default=1,
            help="How many tasks to run at once, in threads of this process (default: "
            "%(default)s). Async tasks share one event loop.",
        )
        parser.add_argument(
            "--backend",
            default=DEFAULT_TASK_BACKEND_ALIAS,
            type=arguments.database_backend,
            dest="backend_name",
            help="The alias of the database backend in TASKS (default: %(default)s).",
        )
        parser.add_argument(
            "--worker-id",
            type=arguments.worker_id,
            default=None,
            help=f"This worker's id, unique among running workers, at most {MAX_NAME_LENGTH} "
            "characters (default: random).",
        )
        parser.add_argument(
            "--no-startup-delay",
            action="store_false",
            dest="startup_delay",
            help="Start at once, without the random delay of up to a second that keeps "
            "workers started together from all polling at the same moment.",
        )
        parser.add_argument(
            "--reload",
            action="store_true",
            help="Restart when code changes (for development: a restart can cut a task "
            "short; it then runs again once WORKER_TIMEOUT has passed).",
        )

    def handle(
        self,
        *,
        queue_name: frozenset[str] | None,
        interval: float,
        batch: bool,
        max_tasks: int | None,
        backend_name: str,
        worker_id: str | None,
        startup_delay: bool,
        reload: bool,
        concurrency: int,
        verbosity: int,
        **options: Any,
    ) -> None:
        worker = Worker(
            backend_name=backend_name,
            queue_names=queue_name,
            interval=interval,
            batch=batch,
            max_tasks=max_tasks,
            worker_id=worker_id,
            startup_delay=startup_delay,
            concurrency=concurrency,
        )
        with logging_to(self.stderr, verbosity):
            if reload and batch:
                self.stderr.write("--reload has no effect with --batch.")
                reload = False
            if reload:
                run_with_reloader(worker)
            elif run(worker):
                raise CommandError(
                    f"Worker {worker.worker_id} stopped at once (a second signal).", returncode=1
                )


def run(worker: Worker) -> int:
    """Run the worker; return the exit status: 1 if a second signal stopped it."""
    try:
        if threading.current_thread() is threading.main_thread():
            with worker.handling_signals():
                worker.run()
        else:
            worker.run()
    except WorkerInterrupted:
        return 1
    return 1 if worker.stopped_at_once else 0


def run_with_reloader(worker: Worker) -> None:
    # Django's reloader runs the worker in a thread of a child process, and installs its
    # own SIGTERM handler there: ours go in after (it sends autoreload_started then).
    def install_signal_handlers(**kwargs: Any) -> None:
        worker.handling_signals().__enter__()

    def run_then_exit() -> None:
        status = run(worker)
        logging.shutdown()
        os._exit(status)  # The reloader's own loop never ends by itself.

    autoreload.autoreload_started.connect(install_signal_handlers, weak=False)
    autoreload.run_with_reloader(run_then_exit)


@contextmanager
def logging_to(stream: OutputWrapper, verbosity: int) -> Generator[None, None, None]:
    """Set log levels by verbosity; log to `stream` unless logging is configured."""
    package = logging.getLogger("django_tasks")
    ours = logging.getLogger("django_tasks.backends.database")
    package_level, our_level = LOG_LEVELS[min(verbosity, 2)]
    saved = package.level, ours.level
    package.setLevel(package_level)
    ours.setLevel(our_level)
    handler: logging.Handler | None = None
    if not package.hasHandlers():
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        package.addHandler(handler)
    try:
        yield
    finally:
        if handler is not None:
            package.removeHandler(handler)
        package.setLevel(saved[0])
        ours.setLevel(saved[1])
