"""
`make soak`: real worker processes under load and faults, on PostgreSQL, MariaDB, SQLite
and RQ; prints a table of figures, writes soak/results.md, and exits 1 on any loss or
unexplained duplicate. `--quick` is the subset `make test` runs.

Each target runs in a child process of its own (`--target`), with the soak project's
settings (soak/soakproject) on a database created for the run and dropped after it.
Every task appends "start"/"end" lines with its result id and pid to one O_APPEND log,
so executions are counted by pid: a duplicate is explained only if each earlier
execution of that task ran in a worker that this run killed. Servers are only ever on
127.0.0.1; each one a scenario stops is started again, even when a check fails.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results.md"
TARGETS = ("postgresql", "mysql", "sqlite", "rq")
LEASE = 4.0  # WORKER_TIMEOUT of the soak's backends, in seconds.
PATIENCE = 300.0  # No wait of the soak lasts longer than this.


@dataclass(frozen=True)
class Scale:
    drain: int  # Tasks of scenario 1.
    crash_tasks: int  # Tasks of scenario 2.
    crash_seconds: float  # How long each of those runs.
    kill_every: float  # Seconds between SIGKILLs in scenario 2.
    restart_tasks: int  # Tasks of scenario 3.
    periodic_seconds: float  # How long scenario 6 runs (and scenario 5 kills workers).
    flaky_tasks: int  # Flaky tasks of scenario 5 (and a quarter as many doomed ones).


SCALES = {
    "full": Scale(
        drain=10_000,
        crash_tasks=10_000,
        crash_seconds=0.02,
        kill_every=2.5,
        restart_tasks=3_000,
        periodic_seconds=60,
        flaky_tasks=2_000,
    ),
    "quick": Scale(
        drain=1_000,
        crash_tasks=400,
        crash_seconds=0.02,
        kill_every=1.5,
        restart_tasks=0,
        periodic_seconds=8,
        flaky_tasks=200,
    ),
}


@dataclass
class Row:
    """One line of the table: a scenario on a target, its figures, and whether it held."""

    target: str
    scenario: str
    figures: dict[str, Any]
    ok: bool
    why: str = ""


# --- the child: one target, Django set up -------------------------------------------


class Target:
    """The soak project on one database (or Redis), with worker processes to start."""

    def __init__(self, name: str, work: Path) -> None:
        self.name = name
        self.work = work
        self.log = work / f"exec-{name}.log"
        self.log.touch()
        self.backend = "rq" if name == "rq" else "default"
        self.db = "sqlite" if name in ("sqlite", "rq") else name
        self.db_name = (
            str(work / f"soak-{name}.sqlite3") if self.db == "sqlite" else f"soak_{os.getpid()}"
        )
        self.redis_url = os.environ.get("SOAK_REDIS_URL", "redis://127.0.0.1:6379/11")
        self.workers: list[subprocess.Popen[bytes]] = []
        self.killed: dict[int, float] = {}  # pid -> when it was SIGKILLed
        self.names: dict[int, str] = {}  # pid -> worker id
        self.generation = 0

    def env(self) -> dict[str, str]:
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith("SOAK_")},
            "DJANGO_SETTINGS_MODULE": "soakproject.settings",
            "PYTHONPATH": str(HERE),
            "SOAK_DB": self.db,
            "SOAK_DB_NAME": self.db_name,
            "SOAK_LEASE": str(LEASE),
            "SOAK_REDIS_URL": self.redis_url,
            "SOAK_EXEC_LOG": str(self.log),
        }

    # set-up ---------------------------------------------------------------------------

    def setup(self) -> None:
        os.environ.update(self.env())
        sys.path.insert(0, str(HERE))
        if self.db == "postgresql" or self.db == "mysql":
            self._server_sql(f"CREATE DATABASE {self.db_name}")
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)

    def teardown(self) -> None:
        self.stop_workers()
        from django.db import connections

        connections.close_all()
        if self.db in ("postgresql", "mysql"):
            self._server_sql(f"DROP DATABASE IF EXISTS {self.db_name}", force=True)
        if self.name == "rq":
            self.redis().flushdb()

    def _server_sql(self, statement: str, force: bool = False) -> None:
        if self.db == "postgresql":
            import psycopg

            suffix = " WITH (FORCE)" if force else ""
            with psycopg.connect(
                "host=127.0.0.1 user=postgres dbname=postgres", autocommit=True
            ) as conn:
                conn.execute(statement + suffix)
        else:
            import MySQLdb

            conn = MySQLdb.connect(host="127.0.0.1", user="root")
            try:
                conn.cursor().execute(statement)
            finally:
                conn.close()

    def redis(self) -> Any:
        from redis import Redis

        return Redis.from_url(self.redis_url)

    # tasks ------------------------------------------------------------------------------

    def reset(self) -> None:
        self.stop_workers()
        self.log.write_text("")
        self.killed.clear()
        if self.name == "rq":
            self.redis().flushdb()
        else:
            from django_tasks.backends.database.models import DBTaskResult

            DBTaskResult.objects.all().delete()

    def enqueue(self, count: int, seconds: float) -> list[str]:
        from soakproject.tasks import record, record_rq

        from django_tasks import bulk_enqueue

        task = record_rq if self.name == "rq" else record
        ids = []
        for start in range(0, count, 1000):
            with bulk_enqueue():
                ids += [task.enqueue(seconds).id for _ in range(min(1000, count - start))]
        return ids

    def statuses(self, ids: list[str]) -> Counter[str]:
        if self.name == "rq":
            from django_tasks import task_backends

            backend = task_backends["rq"]
            return Counter(str(backend.get_result(i).status) for i in ids)
        from django_tasks.backends.database.models import DBTaskResult

        return Counter(DBTaskResult.objects.values_list("status", flat=True))

    def finished(self, ids: list[str]) -> bool:
        """Whether every task has ended (cheap enough to ask a few times a second)."""
        if self.name == "rq":
            from rq.registry import FailedJobRegistry, FinishedJobRegistry

            from django_tasks import task_backends

            redis = self.redis()
            done = set(FinishedJobRegistry("default", connection=redis).get_job_ids())
            done |= set(FailedJobRegistry("default", connection=redis).get_job_ids())
            left = [i for i in ids if i not in done]
            # Reading a result is one of the two things that notice a job lost with its
            # worker (the other is the next job a worker starts): poll as a user would.
            for result_id in left[:20]:
                task_backends["rq"].get_result(result_id)
            return not left
        from django.db import DatabaseError, connections

        from django_tasks.backends.database.models import DBTaskResult

        try:
            return DBTaskResult.objects.finished().count() == len(ids)
        except DatabaseError:  # The server is restarting (scenario 3): ask again later.
            connections.close_all()
            return False

    # workers ----------------------------------------------------------------------------

    def start_worker(
        self, *, batch: bool = False, extra: tuple[str, ...] = (), env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        self.generation += 1
        if self.name == "rq":
            command = [sys.executable, str(HERE / "manage.py"), "rqworker", "--serializer", "json"]
            command += ["--worker-class", "rq.SimpleWorker", "--name", f"soak-{self.generation}"]
            command += ["--burst"] if batch else []
            command += ["default"]
        else:
            command = [sys.executable, str(HERE / "manage.py"), "db_worker", "--no-startup-delay"]
            command += ["--interval", "0.5", "--worker-id", f"soak-{self.generation}"]
            command += ["--batch"] if batch else []
        output = open(self.work / f"worker-{self.name}-{self.generation}.log", "ab")  # noqa: SIM115
        # A session of its own: a kill takes the worker with every process it started.
        worker = subprocess.Popen(
            [*command, *extra],
            cwd=HERE,
            env={**self.env(), **(env or {})},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        output.close()
        self.names[worker.pid] = f"soak-{self.generation}"
        self.workers.append(worker)
        return worker

    def wait_workers(self, timeout: float = PATIENCE) -> list[int]:
        deadline = time.monotonic() + timeout
        codes = []
        for worker in self.workers:
            try:
                codes.append(worker.wait(timeout=max(0.1, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                worker.kill()
                codes.append(worker.wait())
        self.workers = []
        return codes

    def kill(self, worker: subprocess.Popen[bytes]) -> None:
        os.killpg(worker.pid, signal.SIGKILL)
        self.killed[worker.pid] = time.time()
        worker.wait()
        self.workers.remove(worker)

    def stop_workers(self) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in self.workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        self.workers = []

    def running_left(self) -> int:
        if self.name == "rq":
            from rq.registry import StartedJobRegistry

            return StartedJobRegistry("default", connection=self.redis()).count
        from django_tasks.backends.database.models import DBTaskResult

        return DBTaskResult.objects.running().count()

    # the execution log ---------------------------------------------------------------------

    def executions(self) -> Executions:
        return Executions.read(self.log)


@dataclass
class Executions:
    """Each task's starts (pid, time) and ends (pid), from the execution log."""

    starts: dict[str, list[tuple[int, float]]] = field(default_factory=lambda: defaultdict(list))
    ends: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    started_by_pid: dict[int, int] = field(default_factory=Counter)

    @classmethod
    def read(cls, path: Path) -> Executions:
        found = cls()
        for line in path.read_text().splitlines():
            event, result_id, pid, at = line.split()
            if event == "start":
                found.starts[result_id].append((int(pid), float(at)))
                found.started_by_pid[int(pid)] += 1
            else:
                found.ends[result_id].add(int(pid))
        return found

    def duplicates(self) -> dict[str, list[tuple[int, float]]]:
        return {i: starts for i, starts in self.starts.items() if len(starts) > 1}

    def missing(self, ids: list[str]) -> int:
        return sum(1 for i in ids if i not in self.starts)


def wait_until(condition: Callable[[], bool], timeout: float, poll: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(poll)
    return True


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


# --- scenarios ---------------------------------------------------------------------------


def exactly_once(target: Target, scale: Scale, workers: int = 4, slots: int = 1) -> Row:
    """1. Workers drain N no-op tasks: each runs once."""
    target.reset()
    ids = target.enqueue(scale.drain, 0.0)
    began = time.monotonic()
    extra = ("--concurrency", str(slots)) if slots > 1 else ()
    for _ in range(workers):
        target.start_worker(batch=True, extra=extra)
    codes = target.wait_workers()
    elapsed = time.monotonic() - began
    runs = target.executions()
    dups = sum(len(starts) - 1 for starts in runs.duplicates().values())
    missing = runs.missing(ids)
    statuses = target.statuses(ids)
    figures = {
        "tasks": scale.drain,
        "seconds": round(elapsed, 1),
        "duplicates": dups,
        "missing": missing,
        "SUCCESSFUL": statuses["SUCCESSFUL"],
    }
    ok = dups == 0 and missing == 0 and statuses["SUCCESSFUL"] == scale.drain
    ok = ok and codes == [0] * workers
    why = "" if ok else f"statuses {dict(statuses)}, worker exit codes {codes}"
    shape = f"{workers} workers" if slots == 1 else f"{workers} worker, --concurrency {slots}"
    return Row(target.name, f"1. exactly once, {shape}", figures, ok, why)


def exactly_once_in_slots(target: Target, scale: Scale) -> Row:
    """1. One worker at --concurrency 8 drains N no-op tasks: each runs once."""
    return exactly_once(target, scale, workers=1, slots=8)


def crashes(target: Target, scale: Scale) -> Row:
    """2. Four workers drain while one is SIGKILLed every few seconds and replaced."""
    target.reset()
    ids = target.enqueue(scale.crash_tasks, scale.crash_seconds)
    for _ in range(4):
        target.start_worker()
    deadline = time.monotonic() + PATIENCE
    rng = random.Random(1)
    next_kill = time.monotonic() + scale.kill_every
    while not target.finished(ids) and time.monotonic() < deadline:
        runs = target.executions()
        # Kills while most of the work is still ahead: the last few tasks are left to
        # finish (a task killed max_attempts times is FAILED, rightly).
        if time.monotonic() >= next_kill and len(runs.starts) < 0.8 * len(ids):
            busy = set(runs.started_by_pid)
            victims = [w for w in target.workers if w.pid in busy] or target.workers
            target.kill(rng.choice(victims))
            target.start_worker()
            next_kill = time.monotonic() + scale.kill_every
        time.sleep(0.2)
    target.stop_workers()
    runs = target.executions()
    statuses = target.statuses(ids)
    unexplained = []
    restarts = []
    for result_id, starts in runs.duplicates().items():
        *earlier, _last = starts
        for pid, started in earlier:
            if pid not in target.killed or started > target.killed[pid]:
                unexplained.append(result_id)
        # From the kill of the worker that ran it last before, to its next start.
        for (pid, _), (_, restarted) in itertools.pairwise(starts):
            if pid in target.killed:
                restarts.append(restarted - target.killed[pid])
    running = target.running_left()
    figures = {
        "tasks": scale.crash_tasks,
        "kills": len(target.killed),
        "duplicates": sum(len(s) - 1 for s in runs.duplicates().values()),
        "unexplained": len(unexplained),
        "left RUNNING": running,
        "SUCCESSFUL": statuses["SUCCESSFUL"],
        "restart max s": round(max(restarts), 2) if restarts else None,
        "restart p95 s": round(p95, 2) if (p95 := percentile(restarts, 95)) else None,
        "lease s": LEASE,
    }
    ok = (
        statuses["SUCCESSFUL"] == scale.crash_tasks
        and not unexplained
        and running == 0
        and len(target.killed) > 0
    )
    why = "" if ok else f"statuses {dict(statuses)}; unexplained {unexplained[:3]}"
    return Row(target.name, "2. SIGKILL a worker every few s", figures, ok, why)


def graceful_shutdown(target: Target, scale: Scale, slots: int = 1) -> Row:
    """4. SIGTERM while long tasks run: they finish, nothing else starts, exit 0."""
    target.reset()
    ids = target.enqueue(slots + 2, 2.0)
    worker = target.start_worker(extra=("--concurrency", str(slots)) if slots > 1 else ())
    wait_until(lambda: len(target.executions().starts) >= slots, 60, 0.05)
    worker.send_signal(signal.SIGTERM)
    signalled = time.time()
    try:
        code = worker.wait(timeout=60)
    except subprocess.TimeoutExpired:
        worker.kill()
        code = worker.wait()
    target.workers = []
    runs = target.executions()
    started = set(runs.starts)
    cut_short = [i for i in started if not runs.ends.get(i)]
    after_signal = [i for i, s in runs.starts.items() if s[0][1] > signalled]
    statuses = target.statuses(ids)
    figures = {
        "running at SIGTERM": len(started) - len(after_signal),
        "cut short": len(cut_short),
        "started after SIGTERM": len(after_signal),
        "exit code": code,
        "left RUNNING": target.running_left(),
    }
    ok = (
        len(started) == slots
        and not cut_short
        and not after_signal
        and code == 0
        and figures["left RUNNING"] == 0
        and statuses["SUCCESSFUL"] == slots
        and statuses["READY"] == 2
    )
    why = "" if ok else f"statuses {dict(statuses)}"
    return Row(target.name, f"4. graceful shutdown, {slots} slot(s)", figures, ok, why)


def graceful_shutdown_of_slots(target: Target, scale: Scale) -> Row:
    """4. SIGTERM under --concurrency 8: the running tasks finish."""
    return graceful_shutdown(target, scale, slots=8)


@contextmanager
def server_stopped(target: Target) -> Iterator[None]:
    """The target's database server stopped for the block, and started again after it."""
    server = SERVERS_CONTROL[target.db]
    subprocess.run(server.stop, check=True, capture_output=True)
    # A server still shutting down would make the start a no-op (--oknodo).
    wait_until(lambda: subprocess.run(server.running, capture_output=True).returncode != 0, 60)
    try:
        yield
    finally:
        start_server(server)
        from django.db import connections

        connections.close_all()  # This process's own, broken by the stop.


@dataclass(frozen=True)
class ServerControl:
    stop: list[str]
    start: list[str]
    ready: list[str]  # Exits 0 once the server answers.
    running: list[str]  # Exits 0 while its process exists.


def start_server(server: ServerControl) -> None:
    """Start the server and wait until it answers, trying again if a start does not take."""
    for _ in range(6):
        subprocess.run(server.start, check=False, capture_output=True)
        if wait_until(
            lambda: subprocess.run(server.ready, capture_output=True).returncode == 0, 10
        ):
            return
    raise RuntimeError(f"The server did not come back: {' '.join(server.start)}")


PG_CLUSTER = sorted(os.listdir("/etc/postgresql"))[-1] if os.path.isdir("/etc/postgresql") else "15"
SERVERS_CONTROL = {
    "postgresql": ServerControl(
        stop=[
            "pg_ctlcluster",
            "--skip-systemctl-redirect",
            PG_CLUSTER,
            "main",
            "stop",
            "-m",
            "fast",
        ],
        start=["pg_ctlcluster", "--skip-systemctl-redirect", PG_CLUSTER, "main", "start"],
        ready=["pg_isready", "-q", "-h", "127.0.0.1"],
        running=["pg_ctlcluster", PG_CLUSTER, "main", "status"],
    ),
    "mysql": ServerControl(
        stop=["mysqladmin", "-h127.0.0.1", "-uroot", "shutdown"],
        start=[
            "start-stop-daemon",
            "--start",
            "--oknodo",
            "--background",
            "--exec",
            "/usr/sbin/mariadbd",
        ],
        ready=["mysqladmin", "-h127.0.0.1", "-uroot", "ping"],
        running=["pgrep", "-x", "mariadbd"],
    ),
}


def database_restart(target: Target, scale: Scale) -> Row:
    """3. The database restarts mid-run, then stays down longer than the lease."""
    target.reset()
    ids = target.enqueue(scale.restart_tasks, 0.005)
    workers = [target.start_worker() for _ in range(2)]
    outages = []
    wait_until(lambda: len(target.executions().starts) > scale.restart_tasks // 10, 60)
    for down_for in (0.0, LEASE + 2):
        began = time.monotonic()
        with server_stopped(target):
            time.sleep(down_for)
        outages.append(round(time.monotonic() - began, 1))
        wait_until(lambda: len(target.executions().starts) > len(ids) // 2, 20)
    alive_after = sum(1 for w in workers if w.poll() is None)
    done = wait_until(lambda: target.finished(ids), PATIENCE, 0.5)
    target.stop_workers()
    from django.db import connections

    connections.close_all()
    runs = target.executions()
    statuses = target.statuses(ids)
    figures = {
        "tasks": len(ids),
        "outages s": outages,
        "workers alive after": f"{alive_after}/2",
        "duplicates": sum(len(s) - 1 for s in runs.duplicates().values()),
        "missing": runs.missing(ids),
        "SUCCESSFUL": statuses["SUCCESSFUL"],
        "left RUNNING": target.running_left(),
    }
    ok = (
        done
        and alive_after == 2
        and statuses["SUCCESSFUL"] == len(ids)
        and not figures["left RUNNING"]
    )
    why = "" if ok else f"statuses {dict(statuses)}"
    return Row(target.name, "3. database restart + outage > lease", figures, ok, why)


TICK_LINE = re.compile(
    r"Schedule soakproject\.tasks\.tick \(every 1 second\): enqueued the tick of (\S+) as task "
    r"result id=([0-9a-f-]+)\."
)


def periodic(target: Target, scale: Scale) -> Row:
    """6. Four workers share a one-second schedule while one is SIGKILLed every few s."""
    target.reset()
    first = target.generation + 1
    periodic_env = {"SOAK_PERIODIC": "1"}
    for _ in range(4):
        target.start_worker(extra=("-v", "2"), env=periodic_env)
    deadline = time.monotonic() + scale.periodic_seconds
    rng = random.Random(6)
    while time.monotonic() < deadline:
        time.sleep(min(scale.kill_every, max(0.0, deadline - time.monotonic())))
        if time.monotonic() < deadline:
            target.kill(rng.choice(target.workers))
            target.start_worker(extra=("-v", "2"), env=periodic_env)
    target.stop_workers()
    from django_tasks.backends.database.models import DBTaskResult

    logged = []
    for generation in range(first, target.generation + 1):
        log = target.work / f"worker-{target.name}-{generation}.log"
        logged += TICK_LINE.findall(log.read_text(errors="replace"))
    ticks = Counter(tick for tick, _ in logged)
    rows = set(
        str(i)
        for i in DBTaskResult.objects.filter(task_path="soakproject.tasks.tick").values_list(
            "id", flat=True
        )
    )
    seconds = sorted(datetime.fromisoformat(tick) for tick in ticks)
    span = int((seconds[-1] - seconds[0]).total_seconds()) + 1 if seconds else 0
    unlogged = len(rows - {result_id for _, result_id in logged})
    figures = {
        "seconds": scale.periodic_seconds,
        "kills": len(target.killed),
        "ticks enqueued": len(ticks),
        "ticks enqueued twice": sum(1 for count in ticks.values() if count > 1),
        "seconds with no tick": span - len(ticks),
        "rows": len(rows),
        "rows not logged (killed before logging)": unlogged,
    }
    ok = bool(ticks) and max(ticks.values()) == 1 and unlogged <= len(target.killed)
    ok = ok and len(rows) == len(ticks) + unlogged
    return Row(target.name, "6. one-second schedule, 4 workers, SIGKILLs", figures, ok)


def retries_under_kills(target: Target, scale: Scale) -> Row:
    """5. Flaky and doomed tasks retried after a delay while workers are SIGKILLed."""
    from soakproject.tasks import doomed, flaky, hang

    from django_tasks import TaskResultStatus, bulk_enqueue, task_backends

    target.reset()
    plan = [i % 4 for i in range(scale.flaky_tasks)]  # Failures before the success.
    with bulk_enqueue():
        flakes = [flaky.enqueue(failures) for failures in plan]
        dooms = [doomed.enqueue() for _ in range(scale.flaky_tasks // 4)]
        hung = [hang.enqueue() for _ in range(8)]
    ids = [r.id for r in flakes + dooms + hung]
    for _ in range(4):
        target.start_worker()
    rng = random.Random(5)
    deadline = time.monotonic() + PATIENCE
    next_kill = time.monotonic() + scale.kill_every
    kills_until = time.monotonic() + scale.periodic_seconds
    while not target.finished(ids) and time.monotonic() < deadline:
        if next_kill <= time.monotonic() < kills_until:
            target.kill(rng.choice(target.workers))
            target.start_worker()
            next_kill = time.monotonic() + scale.kill_every
        time.sleep(0.2)
    target.stop_workers()
    backend = task_backends[target.backend]
    killed_names = {target.names[pid] for pid in target.killed}
    wrong = []
    lost = 0
    expected: list[tuple[Any, int | None]] = [*zip(flakes, plan, strict=True)]
    expected += [(r, None) for r in dooms] + [(r, -1) for r in hung]
    for result, failures in expected:
        fresh = backend.get_result(result.id)
        kinds = [error.exception_class_path.rsplit(".", 1)[-1] for error in fresh.errors]
        lost_here = kinds.count("WorkerLost")
        lost += lost_here
        # Every lost attempt was in a worker this run killed.
        lost_in_killed = sum(
            1
            for worker, kind in zip(fresh.worker_ids, kinds, strict=False)
            if kind == "WorkerLost" and worker in killed_names
        )
        if failures is None:  # doomed: FAILED after exactly max_attempts.
            ok = fresh.status == TaskResultStatus.FAILED and fresh.attempts == 3
        elif failures == -1:  # hung: each attempt stopped at its timeout.
            ok = fresh.status == TaskResultStatus.FAILED and fresh.attempts == 2
            ok = ok and set(kinds) <= {"TaskTimeout", "WorkerLost"}
        else:
            # Attempt k raises Flake while k <= failures, unless it was lost with its
            # worker; the first attempt past them succeeds, within max_attempts (4).
            planned = all(
                kind == "WorkerLost" or (kind == "Flake" and k <= failures)
                for k, kind in enumerate(kinds, 1)
            )
            ok = planned and (
                (fresh.status == TaskResultStatus.SUCCESSFUL and fresh.attempts > failures)
                or (fresh.status == TaskResultStatus.FAILED and fresh.attempts == 4 and lost_here)
            )
        if not ok or len(fresh.errors) != fresh.attempts - (fresh.status == "SUCCESSFUL"):
            wrong.append(f"{result.id} {fresh.status} attempts {fresh.attempts} errors {kinds}")
        elif lost_in_killed != lost_here:
            wrong.append(f"{result.id}: a lost attempt in a worker that was not killed")
    statuses = target.statuses(ids)
    figures = {
        "flaky": len(flakes),
        "doomed": len(dooms),
        "hung (1 s timeout)": len(hung),
        "kills": len(target.killed),
        "lost attempts": lost,
        "SUCCESSFUL": statuses["SUCCESSFUL"],
        "FAILED": statuses["FAILED"],
        "wrong": len(wrong),
        "left RUNNING": target.running_left(),
    }
    ok = not wrong and not figures["left RUNNING"] and target.finished(ids)
    return Row(
        target.name,
        "5. retries and timeouts while workers are SIGKILLed",
        figures,
        ok,
        "; ".join(wrong[:3]),
    )


def scenarios_for(target: str, scale: Scale) -> list[Callable[[Target, Scale], Row]]:
    chosen: list[Callable[[Target, Scale], Row]] = [exactly_once, crashes, graceful_shutdown]
    if target != "rq":  # RQ runs one job per worker process.
        chosen += [exactly_once_in_slots, graceful_shutdown_of_slots]
    if target in SERVERS_CONTROL and scale.restart_tasks:
        chosen.append(database_restart)
    if target != "rq":  # Database workers run the schedules.
        chosen += [retries_under_kills, periodic]
    return chosen


def run_target(name: str, scale: Scale, work: Path, only: set[str]) -> list[Row]:
    target = Target(name, work)
    target.setup()
    rows = []
    try:
        for scenario in scenarios_for(name, scale):
            number = (scenario.__doc__ or "").split(".")[0]
            if only and number not in only:
                continue
            began = time.monotonic()
            try:
                row = scenario(target, scale)
            except Exception as e:
                traceback.print_exc()
                from django.db import connections

                connections.close_all()
                row = Row(
                    name,
                    scenario.__doc__.split(".")[0] if scenario.__doc__ else scenario.__name__,
                    {},
                    False,
                    f"{type(e).__name__}: {e}",
                )
            print(
                f"   {name}: {row.scenario}: {'ok' if row.ok else 'FAILED'} in {time.monotonic() - began:.0f} s",
                file=sys.stderr,
                flush=True,
            )
            rows.append(row)
    finally:
        target.teardown()
    return rows


# --- the parent: every target, the table ----------------------------------------------


SERVERS = {"postgresql": 5432, "mysql": 3306, "rq": 6379}


def unreachable(target: str) -> str:
    """Why the target's server does not answer on 127.0.0.1, or ""."""
    port = SERVERS.get(target)
    if port is None:
        return ""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError as e:
        return f"nothing answers on 127.0.0.1:{port} ({e})"
    return ""


def table(rows: list[Row], header: str) -> str:
    lines = [header, "", "| target | scenario | figures | |", "|---|---|---|---|"]
    for row in rows:
        figures = ", ".join(f"{key} {value}" for key, value in row.figures.items())
        verdict = "ok" if row.ok else f"**FAILED** {row.why}"
        lines.append(f"| {row.target} | {row.scenario} | {figures} | {verdict} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the small subset make test runs")
    parser.add_argument("--targets", default=os.environ.get("SOAK_TARGETS", ",".join(TARGETS)))
    parser.add_argument(
        "--only", default="", help="comma list of scenario numbers to run (default: all)"
    )
    parser.add_argument("--target", help=argparse.SUPPRESS)  # A child's one target.
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    scale = SCALES["quick" if args.quick else "full"]

    if args.target:
        only = set(filter(None, args.only.split(",")))
        rows = run_target(args.target, scale, args.work, only)
        print(json.dumps([row.__dict__ for row in rows]))
        return 0

    began = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="django-tasks-soak-"))
    rows: list[Row] = []
    for name in args.targets.split(","):
        print(f"== soak: {name}", file=sys.stderr, flush=True)
        if why := unreachable(name):
            # As the test suite's servers: a skip here, a failure under CI.
            required = os.environ.get("DJANGO_TASKS_REQUIRE_SERVICES", "") not in ("", "0")
            rows.append(Row(name, "(skipped)", {}, not required, why))
            continue
        child = subprocess.run(
            [sys.executable, __file__, "--target", name, "--work", str(work), "--only", args.only]
            + (["--quick"] if args.quick else []),
            capture_output=True,
            text=True,
            timeout=PATIENCE * 8,
        )
        sys.stderr.write(child.stderr[-4000:] if child.returncode else "")
        if child.returncode:
            rows.append(Row(name, "(target)", {}, False, f"exit {child.returncode}; see stderr"))
            continue
        rows += [Row(**row) for row in json.loads(child.stdout.strip().splitlines()[-1])]
    failed = [row for row in rows if not row.ok]
    header = (
        f"# Soak results ({'quick' if args.quick else 'full'})\n\n"
        f"{_revision()}, lease (WORKER_TIMEOUT) {LEASE:g} s, {time.monotonic() - began:.0f} s in all."
    )
    text = table(rows, header)
    print(text)
    output = args.output or (None if args.quick else RESULTS)
    if output:
        output.write_text(text)
    if failed:
        print(
            f"== soak: {len(failed)} scenario(s) FAILED; worker logs kept in {work}",
            file=sys.stderr,
        )
        return 1
    shutil.rmtree(work)
    return 0


def _revision() -> str:
    out = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=REPO, capture_output=True, text=True
    )
    return f"This repo at {out.stdout.strip() or 'unknown'}"


if __name__ == "__main__":
    sys.exit(main())
