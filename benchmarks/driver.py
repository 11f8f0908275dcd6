"""
The in-process half of the benchmark, run by either side's Python (run.py picks the venv).
Each action prints one JSON object on stdout.

    driver.py reset
    driver.py enqueue N --ids FILE     M1: a loop of noop.enqueue()
    driver.py bulk N --ids FILE        bulk enqueue (ours: bulk_enqueue; theirs: bulk_create)
        [--task nap]                   ours: that task instead of noop (concurrency_bench.py)
    driver.py stats                    row count by status, first start and last finish
    driver.py latency --samples S --mean-gap SECONDS
                                       M4, with a worker already running; needs BENCH_EXEC_LOG
"""

import argparse
import json
import os
import random
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchproject.settings")

import django

django.setup()

from benchproject.tasks import nap, noop  # noqa: E402
from django.apps import apps  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management.color import no_style  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Count, Max, Min  # noqa: E402
from exec_log import ExecLog  # noqa: E402

APP_LABEL = "django_tasks_database"  # both sides use this label


def result_model():
    return apps.get_model(APP_LABEL, "DBTaskResult")


def reset() -> dict:
    tables = [model._meta.db_table for model in apps.get_app_config(APP_LABEL).get_models()]
    connection.ops.execute_sql_flush(connection.ops.sql_flush(no_style(), tables))
    return {"tables": tables}


def enqueue(n: int, ids_path: str) -> dict:
    noop.get_backend()
    connection.ensure_connection()
    ids = []
    start = time.perf_counter()
    for _ in range(n):
        ids.append(noop.enqueue().id)
    seconds = time.perf_counter() - start
    Path(ids_path).write_text("\n".join(ids) + "\n")
    return {"n": n, "seconds": seconds}


def bulk(n: int, ids_path: str, task_name: str = "noop") -> dict:
    noop.get_backend()
    connection.ensure_connection()
    if settings.BENCH_SIDE == "ours":
        method, seconds, ids = _bulk_ours(n, nap if task_name == "nap" else noop)
    else:
        method, seconds, ids = _bulk_theirs(n)
    Path(ids_path).write_text("\n".join(ids) + "\n")
    return {"n": n, "seconds": seconds, "method": method}


def _bulk_ours(n: int, task) -> tuple[str, float, list[str]]:
    from django_tasks.backends.database import bulk_enqueue

    start = time.perf_counter()
    with bulk_enqueue() as batch:
        results = [batch.enqueue(task) for _ in range(n)]
    seconds = time.perf_counter() - start
    return "bulk_enqueue()", seconds, [result.id for result in results]


def _bulk_theirs(n: int) -> tuple[str, float, list[str]]:
    # django-tasks-db has no bulk API: build the rows its enqueue() would create and
    # bulk_create them (no validation, no task_enqueued signal).
    from django_tasks_db.models import DBTaskResult, get_date_max

    start = time.perf_counter()
    rows = [
        DBTaskResult(
            id=uuid.uuid4(),
            args_kwargs={"args": [], "kwargs": {}},
            priority=noop.priority,
            task_path=noop.module_path,
            queue_name=noop.queue_name,
            run_after=get_date_max(),
            backend_name=noop.backend,
        )
        for _ in range(n)
    ]
    DBTaskResult.objects.bulk_create(rows)
    seconds = time.perf_counter() - start
    return "DBTaskResult.objects.bulk_create (no bulk API)", seconds, [str(r.id) for r in rows]


def stats() -> dict:
    """
    Row counts by status, the first start and last finish, and when the last of the workers
    began its first task ("all_started") with how many tasks started from then on.
    """
    model = result_model()
    by_status = dict(model.objects.values_list("status").annotate(n=Count("pk")).order_by())
    window = model.objects.aggregate(first_start=Min("started_at"), last_finish=Max("finished_at"))
    first_start_by_worker: dict[str, float] = {}
    starts = []
    for worker_ids, started_at in model.objects.values_list("worker_ids", "started_at"):
        if started_at is None or not worker_ids:
            continue
        started = started_at.timestamp()
        starts.append(started)
        worker = worker_ids[-1]
        first_start_by_worker[worker] = min(started, first_start_by_worker.get(worker, started))
    all_started = max(first_start_by_worker.values(), default=None)
    return {
        "count": sum(by_status.values()),
        "statuses": by_status,
        "first_start": window["first_start"] and window["first_start"].timestamp(),
        "last_finish": window["last_finish"] and window["last_finish"].timestamp(),
        "workers": len(first_start_by_worker),
        "all_started": all_started,
        "started_since_all": sum(1 for started in starts if started >= (all_started or 0)),
    }


def latency(samples: int, mean_gap: float, timeout: float) -> dict:
    """
    Open-loop arrivals: enqueue `samples` tasks at exponentially distributed gaps (a Poisson
    stream, so a polling worker is met at a random phase), and time each from the start of
    its enqueue() call to the start of the task's function.
    """
    log = ExecLog(os.environ["BENCH_EXEC_LOG"])
    noop.get_backend()
    connection.ensure_connection()
    # A first task proves that the worker is up and idle before the clock starts.
    log.wait_for(noop.enqueue().id, timeout)

    rng = random.Random(0)
    enqueued: dict[str, float] = {}
    next_at = time.time()
    while len(enqueued) < samples:
        next_at += rng.expovariate(1 / mean_gap)
        while (now := time.time()) < next_at:
            time.sleep(min(0.001, next_at - now))
            log.poll()
        called = time.time()
        enqueued[noop.enqueue().id] = called
    for result_id in enqueued:
        log.wait_for(result_id, timeout)
    return {"latencies": [log.started[i] - t for i, t in enqueued.items()]}


def main() -> None:
    parser = argparse.ArgumentParser()
    actions = parser.add_subparsers(dest="action", required=True)
    actions.add_parser("reset")
    actions.add_parser("stats")
    for name in ("enqueue", "bulk"):
        action = actions.add_parser(name)
        action.add_argument("n", type=int)
        action.add_argument("--ids", required=True)
        action.add_argument("--reset", action="store_true", help="empty the tables first")
    actions.choices["bulk"].add_argument("--task", choices=("noop", "nap"), default="noop")
    action = actions.add_parser("latency")
    action.add_argument("--samples", type=int, required=True)
    action.add_argument("--mean-gap", type=float, required=True)
    action.add_argument("--timeout", type=float, default=60)
    args = parser.parse_args()

    if getattr(args, "reset", False):
        reset()
    if args.action == "reset":
        out = reset()
    elif args.action == "stats":
        out = stats()
    elif args.action == "enqueue":
        out = enqueue(args.n, args.ids)
    elif args.action == "bulk":
        out = bulk(args.n, args.ids, args.task)
    else:
        out = latency(args.samples, args.mean_gap, args.timeout)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
