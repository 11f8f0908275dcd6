"""An app whose tasks.py declares a schedule with a bad cron string."""
