#!/usr/bin/env python
"""manage.py of the soak project; SOAK_* environment variables pick the database and lease."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "soakproject.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
