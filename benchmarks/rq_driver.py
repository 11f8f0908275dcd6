"""
The in-process half of the RQ benchmark (rq_bench.py starts it). SIDE is "ours"
(`noop.enqueue()` on the RQ backend, queue "default") or "raw" (`Queue.enqueue(raw_noop)`
with RQ's JSON serializer, queue "raw"); each side has its own queue so that both can hold
their jobs at once and be drained back to back. Each action prints one JSON object.

    rq_driver.py enqueue SIDE N --ids FILE   a loop of N enqueues, timed
    rq_driver.py bulk SIDE N --ids FILE      N enqueues in one bulk write, timed
    rq_driver.py check SIDE N --ids FILE     the N jobs finished, none failed, queue empty
    rq_driver.py latency --samples S --worker NAME --exec-log FILE
                                             enqueue -> start, both sides interleaved on
                                             one idle worker that is already running
"""

import argparse
import json
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchproject.settings_rq")

import django

django.setup()

from django.conf import settings  # noqa: E402
from exec_log import ExecLog  # noqa: E402
from redis import Redis  # noqa: E402
from rq import Queue  # noqa: E402
from rq.job import Job, JobStatus  # noqa: E402
from rq.registry import FailedJobRegistry, FinishedJobRegistry  # noqa: E402
from rq.serializers import JSONSerializer  # noqa: E402
from rqjobs.raw import raw_noop  # noqa: E402
from rqjobs.tasks import noop  # noqa: E402

from django_tasks import TaskResultStatus, bulk_enqueue  # noqa: E402

SIDES = ("ours", "raw")
QUEUES = {"ours": "default", "raw": "raw"}


def connect() -> tuple[Redis, Queue]:
    """The raw side's client and queue: a plain Redis connection on RQ_QUEUES' URL."""
    name = QUEUES["raw"]
    connection = Redis.from_url(settings.RQ_QUEUES[name]["URL"])
    return connection, Queue(name, connection=connection, serializer=JSONSerializer)


def enqueuer(side: str, queue: Queue) -> Callable[[], str]:
    """One enqueue on `side`, returning the id that the job logs when it starts."""
    if side == "ours":
        return lambda: noop.enqueue().id
    return lambda: queue.enqueue(raw_noop).id


def warm_up(side: str, raw_queue: Queue) -> None:
    """
    One enqueue outside the clock, so that connecting and first-use set-up are not timed on
    either side; the job is then taken off its queue (the other side's queue may be full).
    """
    enqueuer(side, raw_queue)()
    connection = raw_queue.connection
    connection.delete(Queue(QUEUES[side], connection=connection).key)


def enqueue(side: str, n: int, ids_path: str) -> dict[str, Any]:
    _, queue = connect()
    warm_up(side, queue)
    one = enqueuer(side, queue)
    started = time.perf_counter()
    ids = [one() for _ in range(n)]
    seconds = time.perf_counter() - started
    Path(ids_path).write_text("\n".join(ids) + "\n")
    return {"n": n, "seconds": seconds}


def bulk(side: str, n: int, ids_path: str) -> dict[str, Any]:
    _, queue = connect()
    warm_up(side, queue)
    started = time.perf_counter()
    if side == "ours":
        with bulk_enqueue():
            ids = [noop.enqueue().id for _ in range(n)]
    else:
        jobs = queue.enqueue_many([Queue.prepare_data(raw_noop) for _ in range(n)])
        ids = [job.id for job in jobs]
    seconds = time.perf_counter() - started
    Path(ids_path).write_text("\n".join(ids) + "\n")
    return {"n": n, "seconds": seconds}


def check(side: str, n: int, ids_path: str) -> dict[str, Any]:
    """
    After a drain: RQ counts n finished jobs and no failed one, the queue is empty, and the
    last job's outcome reads back as a success the way each side's users read it.
    """
    connection, _ = connect()
    name = QUEUES[side]
    queue = Queue(name, connection=connection, serializer=JSONSerializer)
    finished = FinishedJobRegistry(name, connection=connection, serializer=JSONSerializer)
    failed = FailedJobRegistry(name, connection=connection, serializer=JSONSerializer)
    last = Path(ids_path).read_text().split()[-1]
    if side == "ours":
        outcome, success = noop.get_result(last).status.name, TaskResultStatus.SUCCESSFUL.name
    else:
        job = Job.fetch(last, connection=connection, serializer=JSONSerializer)
        outcome, success = job.get_status().name, JobStatus.FINISHED.name
    out = {
        "finished": finished.count,
        "failed": failed.count,
        "queued": queue.count,
        "last_outcome": outcome,
    }
    out["ok"] = (out["finished"], out["failed"], out["queued"], outcome) == (n, 0, 0, success)
    return out


def latency(samples: int, worker: str, exec_log: str, timeout: float) -> dict[str, Any]:
    """
    Closed loop, the two sides interleaved in a random order on the same running worker:
    wait until the worker reports itself idle, pause a few milliseconds (so that it is
    back in its blocking pop), then time one enqueue from the call to the start of the job
    function. Each sample meets an idle worker, whatever the other side's jobs cost.
    """
    connection, queue = connect()
    log = ExecLog(exec_log)
    worker_key = f"rq:worker:{worker}"
    one = {side: enqueuer(side, queue) for side in SIDES}

    def wait_idle() -> None:
        deadline = time.monotonic() + timeout
        while connection.hget(worker_key, "state") != b"idle":
            if time.monotonic() > deadline:
                raise TimeoutError(f"worker {worker} was not idle within {timeout} s")
            time.sleep(0.0005)

    # A first job on each side proves the worker is up and warms it (imports, connections).
    for side in SIDES:
        log.wait_for(one[side](), timeout)
    rng = random.Random(0)
    latencies: dict[str, list[float]] = {side: [] for side in SIDES}
    for _ in range(samples):
        for side in rng.sample(SIDES, len(SIDES)):
            wait_idle()
            time.sleep(rng.uniform(0.002, 0.006))
            called = time.time()
            job_id = one[side]()
            latencies[side].append(log.wait_for(job_id, timeout) - called)
    return {"latencies": latencies}


def main() -> None:
    parser = argparse.ArgumentParser()
    actions = parser.add_subparsers(dest="action", required=True)
    for name in ("enqueue", "bulk", "check"):
        action = actions.add_parser(name)
        action.add_argument("side", choices=SIDES)
        action.add_argument("n", type=int)
        action.add_argument("--ids", required=True)
    action = actions.add_parser("latency")
    action.add_argument("--samples", type=int, required=True)
    action.add_argument("--worker", required=True, help="the running worker's --name")
    action.add_argument("--exec-log", required=True)
    action.add_argument("--timeout", type=float, default=60)
    args = parser.parse_args()

    if args.action == "enqueue":
        out = enqueue(args.side, args.n, args.ids)
    elif args.action == "bulk":
        out = bulk(args.side, args.n, args.ids)
    elif args.action == "check":
        out = check(args.side, args.n, args.ids)
    else:
        out = latency(args.samples, args.worker, args.exec_log, args.timeout)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
