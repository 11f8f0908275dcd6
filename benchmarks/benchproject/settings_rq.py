"""
Settings for the RQ benchmark (rq_bench.py): the RQ backend and raw RQ share them, so
both sides' jobs run in the same `rqworker` process image and only the job differs.

BENCH_RQ_URL  the Redis database the run owns, flushed between steps (default db 13)
"""

import os

SECRET_KEY = "benchmark-only"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"

# rqjobs holds both sides' jobs (tasks.py for ours, raw.py for raw RQ).
INSTALLED_APPS = ["django_rq", "django_tasks", "rqjobs"]

# "default" is the RQ backend's queue, "raw" raw RQ's: one Redis database, two lists.
_url = os.environ.get("BENCH_RQ_URL", "redis://127.0.0.1:6379/13")
RQ_QUEUES = {"default": {"URL": _url}, "raw": {"URL": _url}}

# No transaction is open in the benchmark, but the default would look for one on every
# enqueue; raw RQ does not.
TASKS = {
    "default": {
        "BACKEND": "django_tasks.backends.rq.RQBackend",
        "QUEUES": ["default"],
        "ENQUEUE_ON_COMMIT": False,
    }
}
