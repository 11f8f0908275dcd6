"""
Raw RQ's side of the RQ benchmark: a plain module-level no-op. It lives apart from
tasks.py so that a forking worker's work-horse imports no more for it than a raw RQ
user's job would.
"""

import time

from rq import get_current_job

from .execlog import log_start


def raw_noop() -> None:
    started = time.time()
    job = get_current_job()
    log_start(job.id if job else "?", started)
