"""The start log that the RQ benchmark's jobs write, on both sides alike."""

import os

_log_fd: int | None = None


def log_start(job_id: str, started: float) -> None:
    """
    Append "<id> <start time>" to BENCH_EXEC_LOG, if set. One short write to an O_APPEND
    file is atomic and costs microseconds, not a Redis round trip.
    """
    global _log_fd
    path = os.environ.get("BENCH_EXEC_LOG")
    if not path:
        return
    if _log_fd is None:
        _log_fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(_log_fd, f"{job_id} {started:.6f}\n".encode())
