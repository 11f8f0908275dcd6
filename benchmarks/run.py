"""
`make bench`: this project's database backend ("ours") side by side with django-tasks-db
("theirs") on the same databases and Django settings. See benchmarks/README.md.

Runs in the repo's .venv (ours). django-tasks-db is built on the upstream django-tasks
backport, whose import package is also `django_tasks`, so it gets its own virtualenv,
created here from PyPI with pinned versions. Each side has its own database, emptied
before every measurement; the same no-op task (benchproject/tasks.py) runs on both.

The RQ backend is compared with raw RQ by rq_bench.py, which this runs as well
(`--only db` or `--only rq` runs one part).
"""

import argparse
import contextlib
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

import concurrency_bench
import rq_bench
from driver_call import call_driver

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
THEIRS_VENV = HERE / ".venv-django-tasks-db"
RESULTS = HERE / "results.md"
# Where a run of only some parts goes, so that it does not overwrite the whole bench's.
PARTIAL_RESULTS = HERE / "results-partial.md"
# --only: the database backend's part, the RQ backend's, the database worker's concurrency
SUITES = ("db", "rq", "conc")

# Same Django and psycopg as ours, so that only the task backend differs.
THEIRS_REQUIREMENTS = [
    "django-tasks-db[compat]==0.13.0",
    "django-tasks==0.12.0",
    f"Django=={version('Django')}",
    f"psycopg[binary]=={version('psycopg')}",
]

PG = {
    "host": os.environ.get("BENCH_PG_HOST", "127.0.0.1"),
    "port": os.environ.get("BENCH_PG_PORT", "5432"),
    "user": os.environ.get("BENCH_PG_USER", "postgres"),
    "password": os.environ.get("BENCH_PG_PASSWORD", ""),
}

# Both workers poll every second when idle: django-tasks-db's default --interval, passed
# explicitly to both so that the comparison does not hang on ours' default.
WORKER_INTERVAL = "1"
M3_WORKERS = 4
# How long an idle worker's CPU time is sampled, after it has settled.
IDLE_SETTLE, IDLE_SECONDS = 2.0, 20.0
WORKER_TIMEOUT = 600


@dataclass(frozen=True)
class Side:
    name: str  # "ours", "theirs" or "base"
    label: str
    python: str
    # Ours at an earlier commit (--base): its package, first on PYTHONPATH.
    package_root: Path | None = None

    @property
    def settings_side(self) -> str:
        """BENCH_SIDE: which backend app the settings install."""
        return "theirs" if self.name == "theirs" else "ours"


@dataclass(frozen=True)
class Config:
    db: str  # "postgresql" or "sqlite"
    conn_max_age: str  # "0" or "none"

    @property
    def key(self) -> str:
        return f"{self.db}-{self.conn_max_age}"

    @property
    def db_label(self) -> str:
        return "PostgreSQL" if self.db == "postgresql" else "SQLite"

    @property
    def cma_label(self) -> str:
        return "0 (default)" if self.conn_max_age == "0" else "None (persistent)"


CONFIGS = {
    "pg0": Config("postgresql", "0"),
    "pgN": Config("postgresql", "none"),
    "sqlite0": Config("sqlite", "0"),
    "sqliteN": Config("sqlite", "none"),
}


@dataclass
class Bench:
    n: int
    runs: int
    latency_samples: int
    latency_gap: float
    work: Path
    databases: dict[tuple[str, str], str] = field(default_factory=dict)
    # results[config key][side name][measure] = one value per run
    results: dict[str, dict[str, dict[str, list[float]]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    bulk_methods: dict[str, str] = field(default_factory=dict)

    def record(self, config: Config, side: Side, measure: str, value: float) -> None:
        per_side = self.results.setdefault(config.key, {}).setdefault(side.name, {})
        per_side.setdefault(measure, []).append(value)

    def env(self, side: Side, config: Config, exec_log: Path | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BENCH_", "PYTHON"))}
        env.update(
            DJANGO_SETTINGS_MODULE="benchproject.settings",
            BENCH_SIDE=side.settings_side,
            BENCH_DB=config.db,
            BENCH_DB_NAME=self.databases[side.name, config.db],
            BENCH_CONN_MAX_AGE=config.conn_max_age,
            BENCH_PG_HOST=PG["host"],
            BENCH_PG_PORT=PG["port"],
            BENCH_PG_USER=PG["user"],
            BENCH_PG_PASSWORD=PG["password"],
        )
        if exec_log is not None:
            env["BENCH_EXEC_LOG"] = str(exec_log)
        if side.package_root is not None:
            env["PYTHONPATH"] = str(side.package_root)
        return env

    # --- processes ------------------------------------------------------------------

    def driver(self, side: Side, config: Config, *args: str, exec_log: Path | None = None):
        return call_driver(
            [side.python, str(HERE / "driver.py"), *args],
            cwd=HERE,
            env=self.env(side, config, exec_log),
            timeout=WORKER_TIMEOUT,
            what=f"{side.name} driver {args}",
        )

    def start_workers(
        self, side: Side, config: Config, count: int, exec_log: Path, *, batch: bool
    ) -> list[subprocess.Popen[bytes]]:
        workers = []
        for i in range(count):
            command = [side.python, str(HERE / "manage.py"), "db_worker", "--no-startup-delay"]
            command += ["--interval", WORKER_INTERVAL, "--worker-id", f"bench-{i}"]
            if batch:
                command.append("--batch")
            output = open(self.work / f"worker-{side.name}-{config.key}-{i}.log", "ab")  # noqa: SIM115
            workers.append(
                subprocess.Popen(
                    command,
                    cwd=HERE,
                    env=self.env(side, config, exec_log),
                    stdout=output,
                    stderr=subprocess.STDOUT,
                )
            )
            output.close()
        return workers

    def wait(self, workers: list[subprocess.Popen[bytes]], side: Side) -> None:
        for worker in workers:
            try:
                returncode = worker.wait(timeout=WORKER_TIMEOUT)
            except subprocess.TimeoutExpired as e:
                worker.kill()
                raise RuntimeError(f"{side.name} worker still running after {e.timeout} s") from e
            if returncode:
                raise RuntimeError(
                    f"{side.name} worker exited with {returncode}; see its log in {self.work}"
                )

    def stop(self, workers: list[subprocess.Popen[bytes]]) -> None:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()

    # --- measures -------------------------------------------------------------------

    def measure_round(self, sides: list[Side], config: Config, run: int) -> None:
        """
        M1, M2 (draining what M1 enqueued), bulk and (on PostgreSQL) M3 (draining what
        bulk enqueued), each on an empty table.
        Each measure runs for every side in turn before the next measure starts, so that
        the two figures compared were taken seconds apart.
        """

        def ids(side: Side) -> Path:
            return self.work / f"ids-{side.name}.txt"

        def each_side(measure: str, step: Callable[[Side], None]) -> None:
            for side in sides:
                started = time.perf_counter()
                step(side)
                print(
                    f"   run {run + 1} {measure}: {side.name} in {time.perf_counter() - started:.1f} s"
                )

        def enqueue(side: Side) -> None:
            checkpoint(config)
            out = self.driver(
                side, config, "enqueue", str(self.n), "--ids", str(ids(side)), "--reset"
            )
            self.record(config, side, "m1", self.n / out["seconds"])

        def bulk(side: Side) -> None:
            checkpoint(config)
            out = self.driver(side, config, "bulk", str(self.n), "--ids", str(ids(side)), "--reset")
            self.record(config, side, "bulk", self.n / out["seconds"])
            self.bulk_methods[side.name] = out["method"]

        each_side("M1", enqueue)
        each_side("M2", lambda side: self.drain(side, config, run, "m2", 1, ids(side)))
        each_side("bulk", bulk)
        if config.db == "postgresql":
            each_side("M3", lambda side: self.drain(side, config, run, "m3", M3_WORKERS, ids(side)))

    def drain(self, side: Side, config: Config, run: int, measure: str, count: int, ids: Path):
        """
        Start `count` workers in --batch mode on a full queue and wait for them to exit.
        The rate is N over the time from the first task's start (started_at) to the last
        one's finish (finished_at); process start-up is the time from spawning the workers
        to the first start, reported on its own.
        """
        exec_log = self.work / f"exec-{side.name}-{config.key}-{measure}-{run}.log"
        checkpoint(config)
        spawned = time.time()
        self.wait(self.start_workers(side, config, count, exec_log, batch=True), side)
        exited = time.time()
        stats = self.driver(side, config, "stats")
        if stats["statuses"] != {"SUCCESSFUL": self.n}:
            if not stats["first_start"] or not stats["last_finish"]:
                raise RuntimeError(
                    f"{side.name} {measure}: the workers ran no task ({stats['statuses']}); "
                    f"see their logs in {self.work}"
                )
            self.notes.append(f"{side.label} {measure} {config.key}: statuses {stats['statuses']}")
        # Over the time all the workers were running: from the moment the last of them
        # started its first task (start-up on 2 cores staggers them) to the last finish.
        if stats["started_since_all"] >= self.n / 2:
            rate = stats["started_since_all"] / (stats["last_finish"] - stats["all_started"])
        else:  # A worker came up so late that the window says little: take the whole run.
            rate = self.n / (stats["last_finish"] - stats["first_start"])
            self.notes.append(f"{side.label} {measure} {config.key} run {run + 1}: whole-run rate")
        self.record(config, side, measure, rate)
        self.record(config, side, f"{measure}_startup", stats["first_start"] - spawned)
        self.record(config, side, f"{measure}_stagger", stats["all_started"] - stats["first_start"])
        self.record(config, side, f"{measure}_wall", exited - spawned)

        expected = set(ids.read_text().split())
        executed = Counter(line.split()[0] for line in exec_log.read_text().splitlines())
        self.record(config, side, f"{measure}_dup", sum(c - 1 for c in executed.values()))
        self.record(config, side, f"{measure}_missing", len(expected - executed.keys()))

    def measure_latency(self, side: Side, config: Config) -> None:
        """M4: one idle worker already running; see driver.latency."""
        self.driver(side, config, "reset")
        exec_log = self.work / f"exec-{side.name}-{config.key}-m4.log"
        exec_log.touch()
        workers = self.start_workers(side, config, 1, exec_log, batch=False)
        try:
            out = self.driver(
                side,
                config,
                "latency",
                "--samples",
                str(self.latency_samples),
                "--mean-gap",
                str(self.latency_gap),
                exec_log=exec_log,
            )
        finally:
            self.stop(workers)
        latencies = sorted(out["latencies"])
        self.record(config, side, "m4_p50", percentile(latencies, 50) * 1000)
        self.record(config, side, "m4_p95", percentile(latencies, 95) * 1000)

    def measure_idle_cpu(self, side: Side, config: Config) -> None:
        """One worker, idle on an empty queue: its CPU time over IDLE_SECONDS, in % of a core."""
        self.driver(side, config, "reset")
        exec_log = self.work / f"exec-{side.name}-{config.key}-idle.log"
        exec_log.touch()
        [worker] = self.start_workers(side, config, 1, exec_log, batch=False)
        try:
            time.sleep(IDLE_SETTLE)
            before = cpu_seconds(worker.pid)
            time.sleep(IDLE_SECONDS)
            used = cpu_seconds(worker.pid) - before
        finally:
            self.stop([worker])
        self.record(config, side, "idle_cpu", 100 * used / IDLE_SECONDS)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(ordered: list[float], p: float) -> float:
    """Nearest-rank percentile of a sorted list."""
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


# --- set-up ---------------------------------------------------------------------------


def bootstrap_theirs() -> None:
    stamp = THEIRS_VENV / ".bench-requirements"
    wanted = "\n".join(THEIRS_REQUIREMENTS) + "\n"
    if stamp.exists() and stamp.read_text() == wanted:
        return
    print(f"== creating {THEIRS_VENV.relative_to(REPO)}: {' '.join(THEIRS_REQUIREMENTS)}")
    base_python = getattr(sys, "_base_executable", None) or "python3"
    subprocess.run([base_python, "-m", "venv", "--clear", str(THEIRS_VENV)], check=True)
    subprocess.run(
        [THEIRS_VENV / "bin" / "python", "-m", "pip", "install", "--quiet", *THEIRS_REQUIREMENTS],
        check=True,
    )
    stamp.write_text(wanted)


def check_imports(side: Side, expected_prefix: Path) -> str:
    """Each side must import its own `django_tasks`: the names collide."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if side.package_root is not None:
        env["PYTHONPATH"] = str(side.package_root)
    out = subprocess.run(
        [side.python, "-c", "import django, django_tasks; print(django_tasks.__file__)"],
        cwd=HERE,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    path = Path(out.stdout.strip()).resolve()
    if not path.is_relative_to(expected_prefix.resolve()):
        raise RuntimeError(f"{side.label} imports django_tasks from {path}")
    return str(path)


def pg_connect(dbname: str = "postgres"):
    import psycopg

    return psycopg.connect(dbname=dbname, connect_timeout=3, autocommit=True, **PG)


def postgres_available() -> str | None:
    """None if PostgreSQL answers, else why not."""
    try:
        with pg_connect() as conn:
            conn.execute("SELECT 1")
    except Exception as e:
        return str(e).strip()
    return None


def create_databases(bench: Bench, sides: list[Side], configs: list[Config]) -> None:
    for db in sorted({config.db for config in configs}):
        for side in sides:
            if db == "postgresql":
                # The process id keeps concurrent runs on a shared server apart.
                name = f"bench_{side.name}_{os.getpid()}"
                with pg_connect() as conn:
                    conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
                    conn.execute(f"CREATE DATABASE {name}")
            else:
                name = str(bench.work / f"bench_{side.name}.sqlite3")
            bench.databases[side.name, db] = name
            config = next(c for c in configs if c.db == db)
            subprocess.run(
                [side.python, str(HERE / "manage.py"), "migrate", "-v0"],
                cwd=HERE,
                env=bench.env(side, config),
                check=True,
            )


def export_base(revision: str, work: Path) -> Path:
    """The package as it was at `revision`, unpacked into `work` for the base side."""
    root = work / "base"
    root.mkdir()
    archive = subprocess.run(
        ["git", "archive", revision, "django_tasks"], cwd=REPO, capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(root)], input=archive.stdout, check=True)
    return root


def drop_databases(bench: Bench) -> None:
    for (_, db), name in bench.databases.items():
        if db == "postgresql":
            with contextlib.suppress(Exception), pg_connect() as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def checkpoint(config: Config) -> None:
    """
    On PostgreSQL, write out what earlier steps left in the buffers, so that the next timed
    step does not pay for a checkpoint that another step made due (same for both sides).
    """
    if config.db == "postgresql":
        with pg_connect() as conn:
            conn.execute("CHECKPOINT")


def raw_commit_rate(dbname: str) -> float:
    """Single-row INSERT + COMMIT per second with psycopg alone: how busy the disk is now."""
    with pg_connect(dbname) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_calibration (x int)")
        started = time.perf_counter()
        for _ in range(500):
            conn.execute("INSERT INTO bench_calibration VALUES (1)")
        rate = 500 / (time.perf_counter() - started)
        conn.execute("DROP TABLE bench_calibration")
    return rate


# --- report ---------------------------------------------------------------------------


def fmt_rate(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}/s"


def fmt_ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f} ms"


def fmt_s(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} s"


def fmt_pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}%"


def fmt_ratio(ratio: float | None) -> str:
    return "—" if ratio is None else f"{ratio:.2f}x"


def divide(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def report(bench: Bench, configs: list[Config], header: list[str]) -> str:
    def med(config: Config, side: str, measure: str) -> float | None:
        values = bench.results.get(config.key, {}).get(side, {}).get(measure)
        return statistics.median(values) if values else None

    def total(config: Config, side: str, measure: str) -> int | None:
        values = bench.results.get(config.key, {}).get(side, {}).get(measure)
        return int(sum(values)) if values else None

    rows = [
        "| measure | database | CONN_MAX_AGE | ours | django-tasks-db | ours vs theirs | goal | |",
        "|---|---|---|--:|--:|--:|---|---|",
    ]

    def row(
        measure: str,
        config: Config,
        cells: tuple[str, str, str],
        goal: str,
        ok: bool,
        on_sqlite: bool = False,
    ):
        # Goals are set on PostgreSQL, and for some measures on SQLite; other rows are shown
        # for information.
        judged = (
            (goal, "PASS" if ok else "MISS") if config.db == "postgresql" or on_sqlite else ("", "")
        )
        rows.append(
            "| " + " | ".join([measure, config.db_label, config.cma_label, *cells, *judged]) + " |"
        )

    def rates(config: Config, measure: str) -> tuple[float | None, tuple[str, str, str]]:
        ours, theirs = med(config, "ours", measure), med(config, "theirs", measure)
        ratio = divide(ours, theirs)
        return ratio, (fmt_rate(ours), fmt_rate(theirs), fmt_ratio(ratio))

    for config in configs:
        ratio, cells = rates(config, "m1")
        row("M1 sequential enqueue", config, cells, "≥ 1.3x theirs", (ratio or 0) >= 1.3)
    for config in configs:
        need = 5 if config.conn_max_age == "0" else 3
        ratio, cells = rates(config, "m2")
        row("M2 one worker drains N", config, cells, f"≥ {need}x theirs", (ratio or 0) >= need)
    for config in configs:
        if config.db != "postgresql":
            continue
        _, cells = rates(config, "m3")
        ours_m2, ours_m3 = med(config, "ours", "m2"), med(config, "ours", "m3")
        clean = total(config, "ours", "m3_dup") == 0 == total(config, "ours", "m3_missing")
        goal = f"≥ 1.5x our M2 (= {fmt_rate(ours_m2 and 1.5 * ours_m2)}), 0 dup, 0 missing"
        speedup = divide(ours_m3, ours_m2) or 0
        row(f"M3 {M3_WORKERS} workers drain N", config, cells, goal, speedup >= 1.5 and clean)
        counts = tuple(
            f"{total(config, side, 'm3_dup')} / {total(config, side, 'm3_missing')}"
            for side in ("ours", "theirs")
        )
        row("M3 duplicates / missing (all runs)", config, (*counts, ""), "0 / 0", clean)
    for config in configs:
        limits = {"p50": 10, "p95": 50} if config.db == "postgresql" else {"p50": 50, "p95": 100}
        for p, limit in limits.items():
            ours, theirs = med(config, "ours", f"m4_{p}"), med(config, "theirs", f"m4_{p}")
            cells = (fmt_ms(ours), fmt_ms(theirs), fmt_ratio(divide(theirs, ours)))
            ok = ours is not None and ours <= limit
            row(f"M4 enqueue→start {p}", config, cells, f"≤ {limit} ms", ok, on_sqlite=True)
    for config in configs:
        ours, theirs = med(config, "ours", "idle_cpu"), med(config, "theirs", "idle_cpu")
        cells = (fmt_pct(ours), fmt_pct(theirs), "")
        ok = ours is not None and ours <= 1.0
        row("idle worker CPU", config, cells, "≤ 1% of a core", ok, on_sqlite=True)
    for config in configs:
        _, cells = rates(config, "bulk")
        ours = med(config, "ours", "bulk")
        row("bulk enqueue", config, cells, "≥ 10,000/s", (ours or 0) >= 10_000)

    details = [
        "| detail | database | CONN_MAX_AGE | ours | django-tasks-db |",
        "|---|---|---|--:|--:|",
    ]

    def runs(config: Config, side: str, measure: str) -> str:
        values = bench.results.get(config.key, {}).get(side, {}).get(measure)
        return " / ".join(f"{value:,.0f}" for value in values) if values else "—"

    for config in configs:
        for measure, label in (("m1", "M1"), ("m2", "M2"), ("m3", "M3"), ("bulk", "bulk")):
            ours, theirs = runs(config, "ours", measure), runs(config, "theirs", measure)
            if (ours, theirs) != ("—", "—"):
                details.append(
                    f"| {label}, each run (tasks/s) | {config.db_label} | {config.cma_label} "
                    f"| {ours} | {theirs} |"
                )
        for measure, label in (
            ("m2_startup", "M2 worker spawn → first task"),
            ("m2_wall", "M2 worker spawn → exit"),
            ("m3_startup", "M3 workers spawn → first task"),
            ("m3_stagger", "M3 first task → the last worker's first task"),
            ("m3_wall", "M3 workers spawn → all exited"),
        ):
            o, t = med(config, "ours", measure), med(config, "theirs", measure)
            if o is not None or t is not None:
                details.append(
                    f"| {label} | {config.db_label} | {config.cma_label} | {fmt_s(o)} | {fmt_s(t)} |"
                )
        o, t = total(config, "ours", "m2_dup"), total(config, "theirs", "m2_dup")
        om, tm = total(config, "ours", "m2_missing"), total(config, "theirs", "m2_missing")
        details.append(
            f"| M2 duplicates / missing (all runs) | {config.db_label} | {config.cma_label} "
            f"| {o} / {om} | {t} / {tm} |"
        )

    methods = "; ".join(f"{side}: `{m}`" for side, m in sorted(bench.bulk_methods.items()))
    lines = [
        "# Benchmark results",
        "",
        *header,
        "",
        *rows,
        "",
        "ours vs theirs: ours / theirs for rates, theirs / ours for latencies, so above 1x "
        "means ours is better. Goals are judged on PostgreSQL, and for M4 and idle CPU on SQLite "
        "too; other SQLite rows are for information.",
        "",
        "## Details",
        "",
        *details,
        "",
        "## How each figure is measured",
        "",
        f"- N = {bench.n} no-op tasks; every figure but M4 is the median of {bench.runs} runs, "
        "and each run starts from an empty table in the side's own database. Within a run "
        "each measure is taken on both sides back to back, the side going first alternating "
        "between runs.",
        "- M1: one process, a loop of `noop.enqueue()` outside any transaction (connection "
        "already open). CONN_MAX_AGE does not apply outside a request or worker loop.",
        "- M2 / M3: the N tasks are queued first, then 1 (M2) or "
        f"{M3_WORKERS} (M3) `db_worker --batch --no-startup-delay --interval {WORKER_INTERVAL}` "
        "processes are spawned. Rate = the tasks started from the moment the last worker "
        "started its first task, over the time from then to the last `finished_at` (for M2, "
        "N / (last `finished_at` - first `started_at`)): process start-up, which staggers "
        "workers spawned together, is excluded and reported in the details. Each timed step on "
        "PostgreSQL starts after a `CHECKPOINT`. Every execution appends its "
        "result id to a shared O_APPEND file; duplicates are ids run more than once, missing "
        "are queued ids never run. M3 runs on PostgreSQL only.",
        f"- M4: one idle `db_worker --interval {WORKER_INTERVAL}` (django-tasks-db's default "
        f"interval) already running; {bench.latency_samples} tasks enqueued one by one at "
        f"exponentially distributed gaps (mean {bench.latency_gap * 1000:.0f} ms, open loop), "
        "each timed from the start of its `enqueue()` call to the start of the task function. "
        "One run per configuration; percentiles over its samples. Ours on SQLite wakes on "
        "a commit (`PRAGMA data_version`, looked at every 40 ms); theirs polls every interval.",
        f"- idle worker CPU: one `db_worker --interval {WORKER_INTERVAL}` on an empty queue; "
        f"its user + system CPU time (from /proc) over {IDLE_SECONDS:.0f} s, "
        f"{IDLE_SETTLE:.0f} s after it started, as a percentage of one core.",
        f"- bulk enqueue: {methods}. Timed from building the first task to the commit.",
        "- Same Django settings on both sides (DEBUG=False, USE_TZ=True, default worker "
        "verbosity); only the task backend app differs. See benchmarks/benchproject/settings.py.",
    ]
    if bench.notes:
        lines += ["", "## Notes", "", *(f"- {note}" for note in bench.notes)]
    return "\n".join(lines) + "\n"


def base_report(bench: Bench, configs: list[Config], base: str, revision: str) -> str:
    """Ours beside ours at an earlier commit: a change must not slow the happy path."""

    def med(config: Config, side: str, measure: str) -> float | None:
        values = bench.results.get(config.key, {}).get(side, {}).get(measure)
        return statistics.median(values) if values else None

    lines = [
        "",
        f"## Ours ({revision}) beside ours at {base}",
        "",
        "| measure | database | CONN_MAX_AGE | ours | base | ours vs base | goal | |",
        "|---|---|---|--:|--:|--:|---|---|",
    ]
    for measure, label, goal in (
        ("m1", "M1 sequential enqueue", 0.95),
        ("m2", "M2 one worker drains N", 0.95),
        ("m3", f"M3 {M3_WORKERS} workers drain N", None),
        ("bulk", "bulk enqueue", None),
    ):
        for config in configs:
            ours, base_rate = med(config, "ours", measure), med(config, "base", measure)
            if ours is None and base_rate is None:
                continue
            ratio = divide(ours, base_rate)
            verdict = ["", ""]
            if goal is not None:
                verdict = [f"≥ {goal:.2f}x base", "PASS" if (ratio or 0) >= goal else "MISS"]
            cells = [label, config.db_label, config.cma_label, fmt_rate(ours)]
            cells += [fmt_rate(base_rate), fmt_ratio(ratio), *verdict]
            lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Both sides run this tree's benchmark scripts and settings; the base side imports the "
        f"package as committed at {base} (`git archive`, first on PYTHONPATH), with its own "
        "migrations, in a database of its own. Each measure is taken on every side back to "
        "back, as above.",
    ]
    return "\n".join(lines) + "\n"


# --- main -----------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=int(os.environ.get("BENCH_N", 2000)))
    parser.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", 3)))
    parser.add_argument(
        "--latency-samples", type=int, default=int(os.environ.get("BENCH_LATENCY_SAMPLES", 200))
    )
    parser.add_argument(
        "--latency-gap",
        type=float,
        default=float(os.environ.get("BENCH_LATENCY_GAP", 0.1)),
        help="mean seconds between M4 enqueues",
    )
    parser.add_argument(
        "--configs",
        default=os.environ.get("BENCH_CONFIGS", "pg0,pgN,sqlite0"),
        help=f"comma list of {', '.join(CONFIGS)}",
    )
    parser.add_argument(
        "--sides",
        default=os.environ.get("BENCH_SIDES", "ours,theirs"),
        help="comma list of ours, theirs, base (ours at --base)",
    )
    parser.add_argument(
        "--base",
        default=os.environ.get("BENCH_BASE", ""),
        help="a git revision: adds the side 'base', ours at that commit, beside ours",
    )
    parser.add_argument(
        "--only",
        default=os.environ.get("BENCH_ONLY", ",".join(SUITES)),
        help="comma list of the parts to run: db (database backend), rq (RQ backend), "
        "conc (the database worker's --concurrency)",
    )
    parser.add_argument(
        "--rq-url",
        default=os.environ.get("BENCH_RQ_URL", rq_bench.DEFAULT_URL),
        help="Redis database for the RQ part; flushed again and again",
    )
    parser.add_argument(
        "--rq-fork-n",
        type=int,
        default=int(os.environ.get("BENCH_RQ_FORK_N", 300)),
        help="jobs the forking RQ Worker drains (at most N)",
    )
    parser.add_argument(
        "--rq-latency-samples",
        type=int,
        default=int(os.environ.get("BENCH_RQ_LATENCY_SAMPLES", 100)),
        help="RQ enqueue->start samples per side, worker class and run",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help=f"where to write the results (default: {RESULTS.name}, or {PARTIAL_RESULTS.name} "
        "if only some parts run)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory and DBs")
    args = parser.parse_args()
    if args.base and "base" not in args.sides.split(","):
        args.sides += ",base"
    if "base" in args.sides.split(",") and not args.base:
        parser.error("--sides base needs --base REVISION (or BENCH_BASE)")
    if args.output is None:
        whole = set(args.only.split(",")) >= set(SUITES)
        args.output = RESULTS if whole else PARTIAL_RESULTS
    if unknown := set(args.only.split(",")) - set(SUITES):
        parser.error(
            f"--only: unknown part(s) {', '.join(sorted(unknown))}; use {', '.join(SUITES)}"
        )
    return args


def main() -> int:
    args = parse_args()
    began = time.perf_counter()
    revision = git_revision()  # What is measured: the tree as the run starts.
    suites = args.only.split(",")
    status, sections = 0, []
    if "db" in suites:
        status, text = database_suite(args, revision)
        sections.append(text)
    else:
        sections.append(f"# Benchmark results\n\nThis repo at {revision}.\n")
    if "rq" in suites:
        rq_status, text = rq_suite(args, revision)
        status = status or rq_status
        sections.append(text)
    if "conc" in suites:
        conc_status, text = concurrency_suite(args, revision)
        status = status or conc_status
        sections.append(text)
    text = "\n".join(sections)
    elapsed = time.perf_counter() - began
    print()
    print(text)
    args.output.write_text(text)
    print(f"== written to {args.output} in {elapsed / 60:.1f} min")
    return status


def rq_suite(args: argparse.Namespace, revision: str) -> tuple[int, str]:
    """The RQ part (rq_bench.py): 1 and a note instead of figures if Redis does not answer."""
    if why := rq_bench.redis_available(args.rq_url):
        print(
            f"\n!! Redis is not reachable at {args.rq_url}:\n   {why}\n"
            "   Start it (e.g. `service redis-server start`) or point BENCH_RQ_URL at a "
            "database the run may flush. Skipping the RQ part.\n",
            file=sys.stderr,
        )
        return 1, f"## RQ backend vs raw RQ\n\n**Redis was not reachable at {args.rq_url}.**\n"
    work = Path(tempfile.mkdtemp(prefix="django-tasks-bench-rq-"))
    try:
        lines = rq_bench.run(
            args.n, args.rq_fork_n, args.runs, args.rq_latency_samples, args.rq_url, work, revision
        )
    except BaseException:
        print(f"== failed: the work dir {work} is kept, with the workers' logs", file=sys.stderr)
        raise
    if args.keep:
        print(f"== kept {work}")
    else:
        shutil.rmtree(work)
    return 0, "\n".join(lines) + "\n"


def concurrency_suite(args: argparse.Namespace, revision: str) -> tuple[int, str]:
    """The concurrency part (concurrency_bench.py), on a PostgreSQL database of its own."""
    if why := postgres_available():
        print(f"\n!! PostgreSQL is not reachable: {why}\n   Skipping the concurrency part.\n")
        return 1, "## Worker concurrency\n\n**PostgreSQL was not reachable.**\n"
    name = f"bench_conc_{os.getpid()}"
    work = Path(tempfile.mkdtemp(prefix="django-tasks-bench-conc-"))
    with pg_connect() as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    try:
        bench = concurrency_bench.ConcurrencyBench(args.n, args.runs, name, PG, work)
        subprocess.run(
            [sys.executable, str(HERE / "manage.py"), "migrate", "-v0"],
            cwd=HERE,
            env=bench.env(),
            check=True,
        )
        lines = concurrency_bench.run(args.n, args.runs, name, PG, work, revision)
    except BaseException:
        print(f"== failed: the work dir {work} is kept, with the workers' logs", file=sys.stderr)
        raise
    finally:
        if not args.keep:
            with contextlib.suppress(Exception), pg_connect() as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    if args.keep:
        print(f"== kept {work} and the database {name}")
    else:
        shutil.rmtree(work)
    return 0, "\n".join(lines) + "\n"


def database_suite(args: argparse.Namespace, revision: str) -> tuple[int, str]:
    """The database part; returns the exit status and its results.md text."""
    began = time.perf_counter()
    configs = [CONFIGS[name] for name in args.configs.split(",")]
    status = 0

    if any(c.db == "postgresql" for c in configs) and (why := postgres_available()):
        print(
            f"\n!! PostgreSQL is not reachable at {PG['host']}:{PG['port']} as user "
            f"{PG['user']!r}:\n   {why}\n"
            "   The goals are measured on PostgreSQL. Start it (e.g. `service postgresql "
            "start`) or point BENCH_PG_HOST / BENCH_PG_PORT / BENCH_PG_USER / "
            "BENCH_PG_PASSWORD at one. Carrying on with SQLite only.\n",
            file=sys.stderr,
        )
        configs = [c for c in configs if c.db != "postgresql"] or [CONFIGS["sqlite0"]]
        status = 1

    wanted = args.sides.split(",")
    work = Path(tempfile.mkdtemp(prefix="django-tasks-bench-"))
    ours = Side("ours", "ours (django_tasks.backends.database)", sys.executable)
    sides = [ours] if "ours" in wanted else []
    if "theirs" in wanted:
        bootstrap_theirs()
        sides.append(Side("theirs", "django-tasks-db 0.13.0", str(THEIRS_VENV / "bin" / "python")))
    if "base" in wanted:
        base_label = f"ours at {args.base}"
        sides.append(Side("base", base_label, sys.executable, export_base(args.base, work)))
    for side in sides:
        check_imports(side, side.package_root or (REPO if side.name == "ours" else THEIRS_VENV))
    bench = Bench(args.n, args.runs, args.latency_samples, args.latency_gap, work)
    configs_text = ", ".join(f"{c.db_label} CONN_MAX_AGE={c.conn_max_age}" for c in configs)
    print(f"== N={args.n}, {args.runs} runs; {configs_text}; work dir {work}")
    on_pg = any(c.db == "postgresql" for c in configs)
    try:
        create_databases(bench, sides, configs)
        calibration = measure_all(bench, sides, configs)
    except BaseException:
        print(f"== failed: the work dir {work} is kept, with the workers' logs", file=sys.stderr)
        drop_databases(bench)
        raise
    if args.keep:
        print(f"== kept {work} and the databases {', '.join(bench.databases.values())}")
    else:
        drop_databases(bench)
        shutil.rmtree(work)
    elapsed = time.perf_counter() - began

    header = [
        f"Ours: django_tasks.backends.database (this repo at {revision}). "
        f"Theirs: {', '.join(THEIRS_REQUIREMENTS)}.",
        "",
        f"Python {sys.version.split()[0]}, Django {version('Django')}, {os.cpu_count()} CPUs"
        + (f", {pg_version()}" if on_pg else "")
        + f". N = {args.n}, median of {args.runs} runs. Database part: {elapsed / 60:.1f} min.",
    ]
    if calibration:
        header += [
            "",
            "Machine load: a raw single-row psycopg INSERT+COMMIT ran at "
            + " / ".join(f"{rate:,.0f}/s" for rate in calibration)
            + " (before / after).",
        ]
    if status:
        header += ["", "**PostgreSQL was not reachable: no goal was measured.**"]
    text = report(bench, configs, header)
    if "base" in wanted:
        text += base_report(bench, configs, args.base, revision)
    return status, text


def measure_all(bench: Bench, sides: list[Side], configs: list[Config]) -> list[float]:
    """Every measure for every configuration; returns the raw commit rates before and after."""
    calibration = []
    pg_databases = [name for (_, db), name in bench.databases.items() if db == "postgresql"]
    if pg_databases:
        calibration.append(raw_commit_rate(pg_databases[0]))
    for config in configs:
        print(f"== {config.db_label}, CONN_MAX_AGE={config.conn_max_age}")
        for run in range(bench.runs):
            # Alternate who goes first, so that drift on a shared machine hits both sides.
            bench.measure_round(sides if run % 2 == 0 else sides[::-1], config, run)
        for side in sides:
            started = time.perf_counter()
            bench.measure_latency(side, config)
            print(f"   M4: {side.name} in {time.perf_counter() - started:.1f} s")
            bench.measure_idle_cpu(side, config)
            print(
                f"   idle CPU: {side.name} {bench.results[config.key][side.name]['idle_cpu'][-1]:.2f}%"
            )
    if pg_databases:
        calibration.append(raw_commit_rate(pg_databases[0]))
    return calibration


def git_revision() -> str:
    out = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=REPO, capture_output=True, text=True
    )
    return out.stdout.strip() or "unknown"


def pg_version() -> str:
    with pg_connect() as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return f"PostgreSQL {row[0].split()[0] if row else '?'}"


if __name__ == "__main__":
    sys.exit(main())
