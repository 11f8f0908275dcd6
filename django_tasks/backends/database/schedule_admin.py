"""
The read-only admin of periodic schedules: each schedule workers have started with, its
last tick (from its row) and its next one (from its declaration in this process).
"""

import json
from typing import TYPE_CHECKING

from django.contrib import admin
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ...periodic import Schedule, schedules
from .schedule_models import DBSchedule

if TYPE_CHECKING:
    ModelAdmin = admin.ModelAdmin[DBSchedule]
else:  # Generic only in django-stubs.
    ModelAdmin = admin.ModelAdmin

NOT_DECLARED = _("not declared in this process")


@admin.register(DBSchedule)
class DBScheduleAdmin(ModelAdmin):
    """Read-only: rows are written by workers (a row appears when a worker starts)."""

    list_display = ("task_path", "when", "arguments", "last_tick", "next_tick", "last_result_id")
    list_display_links = None
    search_fields = ("task_path",)
    readonly_fields = ("arguments", "next_tick")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: DBSchedule | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: DBSchedule | None = None) -> bool:
        return False

    @admin.display(description=_("arguments"))
    def arguments(self, obj: DBSchedule) -> str:
        declared = _declared(obj)
        if declared is None:
            return str(NOT_DECLARED)
        shown = [json.dumps(arg) for arg in declared.args]
        shown += [f"{name}={json.dumps(value)}" for name, value in declared.kwargs.items()]
        return ", ".join(shown) or "-"

    @admin.display(description=_("next tick"))
    def next_tick(self, obj: DBSchedule) -> str:
        declared = _declared(obj)
        if declared is None:
            return str(NOT_DECLARED)
        tick = declared.next_tick(timezone.now())
        return "-" if tick is None else f"{timezone.localtime(tick):%Y-%m-%d %H:%M:%S %Z}"


def _declared(obj: DBSchedule) -> Schedule | None:
    return next((declared for declared in schedules if declared.key == obj.key), None)
