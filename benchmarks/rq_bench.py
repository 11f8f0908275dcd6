"""
The RQ part of `make bench`: the RQ backend (`django_tasks.backends.rq.RQBackend`, "ours")
side by side with raw RQ doing the same no-op work, on one Redis database, with the same
`manage.py rqworker --serializer json` command and worker class. run.py calls `run()`;
see benchmarks/README.md.

Both sides share one settings module (benchproject/settings_rq.py) and one Redis
database, flushed before every step; ours' jobs go to the queue "default", raw RQ's to
"raw", so that both sides' jobs can wait at once and each measure is taken on both sides
back to back. rq_driver.py does the in-process half.
"""

import math
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

from driver_call import call_driver
from redis import Redis

HERE = Path(__file__).resolve().parent
DEFAULT_URL = "redis://127.0.0.1:6379/13"  # 14 and 15 belong to the test suite
SIDES = ("ours", "raw")
QUEUES = {"ours": "default", "raw": "raw"}
WORKER_CLASSES = ("Worker", "SimpleWorker")
PROCESS_TIMEOUT = 300


@dataclass
class RQBench:
    n: int
    fork_n: int  # a forking worker runs some 50 jobs/s here: N would take minutes
    runs: int
    latency_samples: int
    url: str
    work: Path
    revision: str  # What is measured, named in the report.
    # results[measure][side] = one value per run
    results: dict[str, dict[str, list[float]]] = field(default_factory=dict)

    def record(self, measure: str, side: str, value: float) -> None:
        self.results.setdefault(measure, {}).setdefault(side, []).append(value)

    def median(self, measure: str, side: str) -> float | None:
        values = self.results.get(measure, {}).get(side)
        return statistics.median(values) if values else None

    def paired_ratio(self, a: tuple[str, str], b: tuple[str, str]) -> float | None:
        """
        The median over the runs of each run's (measure, side) a over b. A run's two
        figures were taken back to back, so the ratio cancels load that drifts between runs
        on a shared machine, which a ratio of the two medians would not.
        """
        first = self.results.get(a[0], {}).get(a[1], [])
        second = self.results.get(b[0], {}).get(b[1], [])
        ratios = [x / y for x, y in zip(first, second, strict=True) if y]
        return statistics.median(ratios) if ratios else None

    def env(self, exec_log: Path | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BENCH_", "PYTHON"))}
        env.update(DJANGO_SETTINGS_MODULE="benchproject.settings_rq", BENCH_RQ_URL=self.url)
        if exec_log is not None:
            env["BENCH_EXEC_LOG"] = str(exec_log)
        return env

    # --- processes ------------------------------------------------------------------

    def flush(self) -> None:
        with Redis.from_url(self.url, socket_timeout=10) as connection:
            connection.flushdb()

    def driver(self, *args: str) -> dict[str, Any]:
        return call_driver(
            [sys.executable, str(HERE / "rq_driver.py"), *args],
            cwd=HERE,
            env=self.env(),
            timeout=PROCESS_TIMEOUT,
            what=f"rq_driver.py {' '.join(args)}",
        )

    def start_worker(
        self, worker_class: str, queues: list[str], name: str, exec_log: Path, *, burst: bool
    ) -> subprocess.Popen[bytes]:
        command = [sys.executable, str(HERE / "manage.py"), "rqworker", "--serializer", "json"]
        command += ["--worker-class", f"rq.{worker_class}", "--name", name]
        if burst:
            command.append("--burst")
        with open(self.work / f"worker-{name}.log", "ab") as output:
            return subprocess.Popen(
                [*command, *queues],
                cwd=HERE,
                env=self.env(exec_log),
                stdout=output,
                stderr=subprocess.STDOUT,
            )

    def stop(self, worker: subprocess.Popen[bytes]) -> None:
        """SIGTERM is RQ's warm shutdown: the worker finishes its job and exits."""
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()

    # --- measures -------------------------------------------------------------------

    def measure_round(self, run: int) -> None:
        """
        One run of every measure, each on both sides back to back (the side going first
        alternates between runs, so that drift on a shared machine hits both).
        """
        sides = list(SIDES) if run % 2 == 0 else list(SIDES[::-1])

        def each_side(label: str, step: Callable[[str], None]) -> None:
            for side in sides:
                started = time.perf_counter()
                step(side)
                print(f"   run {run + 1} {label}: {side} in {time.perf_counter() - started:.1f} s")

        def ids(side: str) -> Path:
            return self.work / f"ids-{side}.txt"

        def enqueue(side: str) -> None:
            out = self.driver("enqueue", side, str(self.n), "--ids", str(ids(side)))
            self.record("enqueue", side, self.n / out["seconds"])

        def bulk(side: str) -> None:
            out = self.driver("bulk", side, str(self.n), "--ids", str(ids(side)))
            self.record("bulk", side, self.n / out["seconds"])

        def fill(side: str) -> None:
            self.driver("enqueue", side, str(self.fork_n), "--ids", str(ids(side)))

        # Sequential enqueue; what it queued is then drained by a SimpleWorker.
        self.flush()
        each_side("enqueue", enqueue)
        each_side(
            "drain SimpleWorker",
            lambda side: self.drain(side, "SimpleWorker", self.n, ids(side), run),
        )
        self.flush()
        each_side("bulk", bulk)
        # The forking worker drains fewer jobs, queued by a sequential enqueue as above.
        self.flush()
        each_side("fill", fill)
        each_side(
            "drain Worker", lambda side: self.drain(side, "Worker", self.fork_n, ids(side), run)
        )
        for worker_class in WORKER_CLASSES:
            started = time.perf_counter()
            self.measure_latency(worker_class, run)
            print(
                f"   run {run + 1} latency {worker_class}: both in "
                f"{time.perf_counter() - started:.1f} s"
            )

    def drain(self, side: str, worker_class: str, n: int, ids: Path, run: int) -> None:
        """
        One `rqworker --burst` on a queue of n jobs, waited for. Every job appends its start
        time to a log; the rate is (n - 1) over the time from the first start to the last,
        so the worker's start-up (reported on its own) is left out.
        """
        name = f"drain-{worker_class}-{side}-{run}"
        exec_log = self.work / f"exec-{name}.log"
        exec_log.touch()
        spawned = time.time()
        worker = self.start_worker(worker_class, [QUEUES[side]], name, exec_log, burst=True)
        try:
            returncode = worker.wait(timeout=PROCESS_TIMEOUT)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        exited = time.time()
        if returncode:
            raise RuntimeError(f"worker {name} exited with {returncode}; see {self.work}")
        lines = [line.split() for line in exec_log.read_text().splitlines()]
        starts = sorted(float(started) for _, started in lines)
        if len(starts) != n or len({job_id for job_id, _ in lines}) != n:
            raise RuntimeError(f"worker {name} ran {len(starts)} jobs, not {n} distinct ones")
        checked = self.driver("check", side, str(n), "--ids", str(ids))
        if not checked["ok"]:
            raise RuntimeError(f"worker {name}: after the drain {checked}")
        key = f"drain_{worker_class}"
        self.record(key, side, (n - 1) / (starts[-1] - starts[0]))
        self.record(f"{key}_startup", side, starts[0] - spawned)
        self.record(f"{key}_wall", side, exited - spawned)

    def measure_latency(self, worker_class: str, run: int) -> None:
        """
        One idle worker on both queues; the driver interleaves the two sides' enqueues on
        it (see rq_driver.latency), so both see the same worker and the same moment.
        """
        self.flush()
        name = f"latency-{worker_class}-{run}"
        exec_log = self.work / f"exec-{name}.log"
        exec_log.touch()
        worker = self.start_worker(worker_class, list(QUEUES.values()), name, exec_log, burst=False)
        try:
            out = self.driver(
                "latency",
                "--samples",
                str(self.latency_samples),
                "--worker",
                name,
                "--exec-log",
                str(exec_log),
            )
        finally:
            self.stop(worker)
        for side in SIDES:
            latencies = sorted(out["latencies"][side])
            self.record(f"latency_p50_{worker_class}", side, statistics.median(latencies) * 1000)
            p95 = latencies[max(1, math.ceil(0.95 * len(latencies))) - 1]  # nearest rank
            self.record(f"latency_p95_{worker_class}", side, p95 * 1000)

    # --- report ---------------------------------------------------------------------

    def report(self, elapsed: float) -> list[str]:
        rows = [
            "| measure | worker | ours (RQBackend) | raw RQ | ratio | goal | |",
            "|---|---|--:|--:|--:|---|---|",
        ]

        def row(
            measure: str, worker: str, cells: list[str], goal: str = "", ok: bool = True
        ) -> None:
            verdict = ("PASS" if ok else "MISS") if goal else ""
            rows.append("| " + " | ".join([measure, worker, *cells, goal, verdict]) + " |")

        def rates(key: str) -> tuple[float | None, list[str]]:
            ours, raw = self.median(key, "ours"), self.median(key, "raw")
            r = self.paired_ratio((key, "ours"), (key, "raw"))
            return r, [fmt_rate(ours), fmt_rate(raw), fmt_ratio(r)]

        r, cells = rates("enqueue")
        row(f"sequential enqueue of {self.n:,}", "", cells, "≥ 0.8x raw", (r or 0) >= 0.8)
        for worker_class in WORKER_CLASSES:
            n = self.n if worker_class == "SimpleWorker" else self.fork_n
            r, cells = rates(f"drain_{worker_class}")
            goal, ok = "≥ 0.9x raw", (r or 0) >= 0.9
            row(f"one worker drains {n:,} queued jobs", worker_class, cells, goal, ok)
        for worker_class in WORKER_CLASSES:
            for p in ("p50", "p95"):
                key = f"latency_{p}_{worker_class}"
                ours, raw = self.median(key, "ours"), self.median(key, "raw")
                r = self.paired_ratio((key, "ours"), (key, "raw"))
                cells = [fmt_ms(ours), fmt_ms(raw), fmt_ratio(r)]
                if p == "p50":
                    row(
                        f"enqueue→start {p}",
                        worker_class,
                        cells,
                        "≤ 1.2x raw",
                        r is not None and r <= 1.2,
                    )
                else:
                    row(f"enqueue→start {p}", worker_class, cells)
        _, cells = rates("bulk")
        speedup = self.paired_ratio(("bulk", "ours"), ("enqueue", "ours"))
        cells[2] = f"{fmt_ratio(speedup)} our sequential"
        goal = "≥ 5x our sequential enqueue"
        row(f"bulk enqueue of {self.n:,}", "", cells, goal, (speedup or 0) >= 5)

        details = [
            "| detail | worker | ours (RQBackend) | raw RQ | ours / raw |",
            "|---|---|--:|--:|--:|",
        ]

        def runs(key: str, side: str, fmt: Callable[[float], str]) -> str:
            values = self.results.get(key, {}).get(side)
            return " / ".join(fmt(value) for value in values) if values else "—"

        def run_ratios(key: str) -> str:
            pairs = zip(
                self.results.get(key, {}).get("ours", []),
                self.results.get(key, {}).get("raw", []),
                strict=True,
            )
            return " / ".join(f"{ours / raw:.2f}" for ours, raw in pairs if raw) or "—"

        def number(value: float) -> str:
            return f"{value:,.0f}"

        def tenth(value: float) -> str:
            return f"{value:,.1f}"

        for key, label, worker, fmt in (
            ("enqueue", "sequential enqueue, each run (jobs/s)", "", number),
            ("bulk", "bulk enqueue, each run (jobs/s)", "", number),
            *((f"drain_{w}", "drain, each run (jobs/s)", w, number) for w in WORKER_CLASSES),
            *(
                (f"latency_p50_{w}", "enqueue→start p50, each run (ms)", w, tenth)
                for w in WORKER_CLASSES
            ),
        ):
            details.append(
                f"| {label} | {worker} | {runs(key, 'ours', fmt)} | {runs(key, 'raw', fmt)} "
                f"| {run_ratios(key)} |"
            )
        for worker_class in WORKER_CLASSES:
            for suffix, label in (
                ("startup", "worker spawn → first job"),
                ("wall", "worker spawn → exit"),
            ):
                key = f"drain_{worker_class}_{suffix}"
                ours, raw = self.median(key, "ours"), self.median(key, "raw")
                details.append(
                    f"| drain: {label} | {worker_class} | {fmt_s(ours)} | {fmt_s(raw)} | |"
                )

        return [
            "## RQ backend vs raw RQ",
            "",
            f"Ours: django_tasks.backends.rq (this repo at {self.revision}). "
            f"Python {sys.version.split()[0]}, Django {version('Django')}, {os.cpu_count()} CPUs, "
            f"rq {version('rq')}, django-rq {version('django-rq')}, redis-py {version('redis')}, "
            f"{redis_version(self.url)}. N = {self.n:,} (forking `Worker` drain: "
            f"{self.fork_n:,}), median of {self.runs} runs. RQ part: {elapsed / 60:.1f} min.",
            "",
            *rows,
            "",
            "ours and raw RQ: medians over the runs. ratio: ours / raw RQ (for latencies too, "
            "so there below 1x means ours is better; for bulk enqueue, our bulk over our "
            "sequential enqueue), taken in each run, whose two figures were measured back to "
            "back, and the median of those reported.",
            "",
            "### Details",
            "",
            *details,
            "",
            "### How each RQ figure is measured",
            "",
            "- Ours: `@task def noop()` (benchmarks/rqjobs/tasks.py) on "
            "`django_tasks.backends.rq.RQBackend`, queue `default`, `ENQUEUE_ON_COMMIT: False`. "
            "Raw RQ: `Queue('raw', serializer=JSONSerializer).enqueue(raw_noop)` with a plain "
            "module-level function (benchmarks/rqjobs/raw.py) on a plain `Redis.from_url` "
            "connection. Both no-ops only append their job id and `time.time()` to a log file. "
            "Same settings (benchproject/settings_rq.py), same Redis database, flushed before "
            "every step; within a run each measure is taken on both sides back to back, the "
            "side going first alternating between runs.",
            "- Sequential enqueue: one process, a loop of N enqueues, after one warm-up enqueue "
            "outside the clock (connection and first-use set-up).",
            "- Drain: the jobs are queued first, then one `manage.py rqworker --burst "
            "--serializer json --worker-class rq.<class> <queue>` is spawned and waited for; "
            "rate = (jobs - 1) / (last job's start - first job's start), so worker start-up is "
            "left out (it is in the details). Every run checks that each job ran once, that RQ "
            "counts them all finished and none failed, and that the last one reads back as a "
            "success (`noop.get_result()` on ours, `Job.get_status()` on raw).",
            f"- enqueue→start: one `rqworker` of the class on both queues, already running; "
            f"{self.latency_samples} samples per side per run, the sides interleaved in random "
            "order. Before each sample the driver waits until the worker's state in Redis is "
            "`idle` and then 2-6 ms more, so every sample meets an idle worker blocked on its "
            "queues; each is timed from the start of the enqueue call to the `time.time()` "
            "that the job function logs. p50/p95 per run, median over the runs.",
            "- Bulk enqueue: ours `with bulk_enqueue(): noop.enqueue()` N times (one Redis "
            "pipeline on exit); raw RQ `Queue.enqueue_many` (one pipeline), shown for "
            "information. Timed from the first enqueue call to the end of the write.",
        ]


def fmt_rate(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}/s"


def fmt_ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.2f} ms"


def fmt_s(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} s"


def fmt_ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}x"


def redis_available(url: str) -> str | None:
    """None if Redis answers at `url`, else why not."""
    try:
        with Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3) as connection:
            connection.ping()
    except Exception as e:
        return str(e).strip() or type(e).__name__
    return None


def redis_version(url: str) -> str:
    with Redis.from_url(url, socket_timeout=3) as connection:
        return f"Redis {connection.info('server')['redis_version']}"


def run(
    n: int, fork_n: int, runs: int, latency_samples: int, url: str, work: Path, revision: str
) -> list[str]:
    """Every RQ measure; returns the results.md section."""
    began = time.perf_counter()
    bench = RQBench(n, min(fork_n, n), runs, latency_samples, url, work, revision)
    # The system checks name a missing backend or Redis plainly; fail here, not mid-run.
    checked = subprocess.run(
        [sys.executable, str(HERE / "manage.py"), "check"],
        cwd=HERE,
        env=bench.env(),
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT,
    )
    if checked.returncode:
        raise RuntimeError(f"manage.py check with the RQ settings failed:\n{checked.stderr}")
    print(f"== RQ backend vs raw RQ on {url}: N={n}, forking drain {bench.fork_n}, {runs} runs")
    try:
        for run_index in range(runs):
            bench.measure_round(run_index)
    finally:
        bench.flush()
    return bench.report(time.perf_counter() - began)
