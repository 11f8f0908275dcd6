"""
The concurrency part of `make bench` (`--only conc`): one `db_worker --concurrency N`
against `--concurrency 1`, on PostgreSQL, ours only. run.py calls `run()`; see
benchmarks/README.md.

- Waiting tasks: NAP_N tasks that each sleep 100 ms (benchproject.tasks.nap), drained by
  one `db_worker --batch --concurrency N` for each N of LEVELS. Goal: N slots run at least
  0.8 x N times as many tasks a second as one slot, with no task run twice or left out.
- No-op tasks: N no-ops drained with --concurrency 4 and with --concurrency 1 (M2's
  drain). Goal: 4 slots are not slower than one (the slots' threads share one GIL).

Each run takes every measure back to back, the levels in turn, on an emptied table.
"""

import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from driver_call import call_driver

HERE = Path(__file__).resolve().parent
LEVELS = (1, 4, 16)
NAP_N = 200
NAP_SECONDS = 0.1
NOOP_LEVELS = (1, 4)
PROCESS_TIMEOUT = 600


@dataclass
class ConcurrencyBench:
    noop_n: int
    runs: int
    database: str
    pg: dict[str, str]
    work: Path
    # results[(task, level)][measure] = one value per run
    results: dict[tuple[str, int], dict[str, list[float]]] = field(default_factory=dict)

    def record(self, key: tuple[str, int], measure: str, value: float) -> None:
        self.results.setdefault(key, {}).setdefault(measure, []).append(value)

    def median(self, key: tuple[str, int], measure: str) -> float | None:
        values = self.results.get(key, {}).get(measure)
        return statistics.median(values) if values else None

    def paired_ratio(self, a: tuple[str, int], b: tuple[str, int]) -> float | None:
        """The median of each run's rate at `a` over its rate at `b` (taken back to back)."""
        first = self.results.get(a, {}).get("rate", [])
        second = self.results.get(b, {}).get("rate", [])
        ratios = [x / y for x, y in zip(first, second, strict=True) if y]
        return statistics.median(ratios) if ratios else None

    def env(self, exec_log: Path | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BENCH_", "PYTHON"))}
        env.update(
            DJANGO_SETTINGS_MODULE="benchproject.settings",
            BENCH_SIDE="ours",
            BENCH_DB="postgresql",
            BENCH_DB_NAME=self.database,
            BENCH_CONN_MAX_AGE="0",
            BENCH_PG_HOST=self.pg["host"],
            BENCH_PG_PORT=self.pg["port"],
            BENCH_PG_USER=self.pg["user"],
            BENCH_PG_PASSWORD=self.pg["password"],
        )
        if exec_log is not None:
            env["BENCH_EXEC_LOG"] = str(exec_log)
        return env

    def driver(self, *args: str) -> dict[str, Any]:
        return call_driver(
            [sys.executable, str(HERE / "driver.py"), *args],
            cwd=HERE,
            env=self.env(),
            timeout=PROCESS_TIMEOUT,
            what=f"driver {args}",
        )

    def drain(self, task: str, n: int, level: int, run: int) -> None:
        """Queue n tasks, drain them with one worker of `level` slots; record rate, dup, missing."""
        ids = self.work / f"ids-{task}.txt"
        self.driver("bulk", str(n), "--ids", str(ids), "--reset", "--task", task)
        exec_log = self.work / f"exec-{task}-{level}-{run}.log"
        command = [sys.executable, str(HERE / "manage.py"), "db_worker", "--batch"]
        command += ["--no-startup-delay", "--interval", "1", "--concurrency", str(level)]
        with open(self.work / f"worker-{task}-{level}.log", "ab") as output:
            worker = subprocess.run(
                command,
                cwd=HERE,
                env=self.env(exec_log),
                stdout=output,
                stderr=subprocess.STDOUT,
                timeout=PROCESS_TIMEOUT,
            )
        if worker.returncode:
            raise RuntimeError(f"db_worker --concurrency {level} exited {worker.returncode}")
        stats = self.driver("stats")
        key = (task, level)
        self.record(key, "rate", n / (stats["last_finish"] - stats["first_start"]))
        expected = set(ids.read_text().split())
        executed = Counter(line.split()[0] for line in exec_log.read_text().splitlines())
        self.record(key, "dup", sum(count - 1 for count in executed.values()))
        self.record(key, "missing", len(expected - executed.keys()))

    def measure_round(self, run: int) -> None:
        # Alternate the order of the levels, so that drift on a shared machine hits all.
        for level in LEVELS if run % 2 == 0 else LEVELS[::-1]:
            started = time.perf_counter()
            self.drain("nap", NAP_N, level, run)
            print(
                f"   run {run + 1} nap --concurrency {level}: {time.perf_counter() - started:.1f} s"
            )
        for level in NOOP_LEVELS if run % 2 == 0 else NOOP_LEVELS[::-1]:
            started = time.perf_counter()
            self.drain("noop", self.noop_n, level, run)
            print(
                f"   run {run + 1} noop --concurrency {level}: {time.perf_counter() - started:.1f} s"
            )

    def report(self, revision: str, elapsed: float) -> list[str]:
        rows = [
            "| tasks | --concurrency | tasks/s | vs --concurrency 1 | duplicates / missing | goal | |",
            "|---|--:|--:|--:|--:|---|---|",
        ]
        for level in LEVELS:
            key = ("nap", level)
            ratio = self.paired_ratio(key, ("nap", 1))
            clean = self.total(key, "dup") == 0 == self.total(key, "missing")
            goal, verdict = "", ""
            if level > 1:
                need = 0.8 * level
                goal = f"≥ {need:.1f}x, 0 / 0"
                verdict = "PASS" if (ratio or 0) >= need and clean else "MISS"
            elif not clean:
                goal, verdict = "0 / 0", "MISS"
            rows.append(self.row(f"{NAP_N} x sleep 100 ms", key, ratio, goal, verdict))
        for level in NOOP_LEVELS:
            key = ("noop", level)
            ratio = self.paired_ratio(key, ("noop", 1))
            goal, verdict = "", ""
            if level > 1:
                clean = self.total(key, "dup") == 0 == self.total(key, "missing")
                goal = "≥ 1.0x, 0 / 0"
                verdict = "PASS" if (ratio or 0) >= 1.0 and clean else "MISS"
            rows.append(self.row(f"{self.noop_n} no-ops", key, ratio, goal, verdict))

        def each_run(key: tuple[str, int]) -> str:
            return " / ".join(f"{rate:,.1f}" for rate in self.results.get(key, {}).get("rate", []))

        details = ["| tasks | --concurrency | tasks/s, each run |", "|---|--:|--:|"]
        for task, levels in (("nap", LEVELS), ("noop", NOOP_LEVELS)):
            for level in levels:
                details.append(f"| {task} | {level} | {each_run((task, level))} |")
        return [
            "## Worker concurrency",
            "",
            f"Ours at {revision}, PostgreSQL, CONN_MAX_AGE=0; one `db_worker --batch "
            f"--concurrency N` per drain, median of {self.runs} runs. Concurrency part: "
            f"{elapsed / 60:.1f} min.",
            "",
            *rows,
            "",
            *details,
            "",
            "- Rate = tasks / (last `finished_at` - first `started_at`): process start-up is "
            'left out. "vs --concurrency 1" is the median over the runs of each run\'s '
            "ratio (the levels of a run are drained back to back, in alternating order).",
            f"- nap: `time.sleep({NAP_SECONDS})` after logging its start, so one slot runs "
            f"at most {1 / NAP_SECONDS:.0f} a second; no-op: the benchmark's no-op task "
            "(M2's).",
            "- Duplicates are ids logged more than once, missing are queued ids never logged, "
            "over all runs.",
        ]

    def row(
        self, what: str, key: tuple[str, int], ratio: float | None, goal: str, verdict: str
    ) -> str:
        rate = self.median(key, "rate")
        counts = f"{self.total(key, 'dup')} / {self.total(key, 'missing')}"
        cells = [
            what,
            str(key[1]),
            "—" if rate is None else f"{rate:,.1f}",
            "—" if ratio is None else f"{ratio:.2f}x",
            counts,
            goal,
            verdict,
        ]
        return "| " + " | ".join(cells) + " |"

    def total(self, key: tuple[str, int], measure: str) -> int | None:
        values = self.results.get(key, {}).get(measure)
        return int(sum(values)) if values else None


def run(
    noop_n: int, runs: int, database: str, pg: dict[str, str], work: Path, revision: str
) -> list[str]:
    """Every measure, `runs` times, in `database` (migrated already); the report's lines."""
    began = time.perf_counter()
    bench = ConcurrencyBench(noop_n, runs, database, pg, work)
    print(
        f"== worker concurrency on PostgreSQL: {NAP_N} naps at --concurrency "
        f"{', '.join(map(str, LEVELS))}; {noop_n} no-ops at {', '.join(map(str, NOOP_LEVELS))}; "
        f"{runs} runs"
    )
    for run_index in range(runs):
        bench.measure_round(run_index)
    return bench.report(revision, time.perf_counter() - began)
