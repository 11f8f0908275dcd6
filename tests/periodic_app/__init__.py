"""An app whose tasks.py declares a one-second schedule, loaded by the periodic process tests."""
