"""The RQ benchmark's jobs (an installed app there, so that django_tasks finds tasks.py)."""
