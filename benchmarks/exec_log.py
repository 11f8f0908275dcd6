"""Following the "<id> <start time>" lines that the benchmarks' no-op tasks append."""

import os
import time


class ExecLog:
    """Reads a log as the no-op tasks append to it, from where it ended when opened."""

    def __init__(self, path: str) -> None:
        self.file = open(path, "a+")  # noqa: SIM115 (kept open while following)
        self.file.seek(0, os.SEEK_END)
        self.pending = ""
        self.started: dict[str, float] = {}

    def poll(self) -> None:
        self.pending += self.file.read()
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            task_id, started = line.split()
            self.started.setdefault(task_id, float(started))

    def wait_for(self, task_id: str, timeout: float) -> float:
        """The logged start time of `task_id`; TimeoutError if it does not start in time."""
        deadline = time.monotonic() + timeout
        while task_id not in self.started:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{task_id} did not start within {timeout} s")
            time.sleep(0.0005)
            self.poll()
        return self.started[task_id]
