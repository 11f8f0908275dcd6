import json
from typing import TYPE_CHECKING, cast

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from .models import DBTaskResult

if TYPE_CHECKING:
    ModelAdmin = admin.ModelAdmin[DBTaskResult]
else:  # Generic only in django-stubs.
    ModelAdmin = admin.ModelAdmin


@admin.register(DBTaskResult)
class DBTaskResultAdmin(ModelAdmin):
    """Read-only: results are written by enqueue and by workers, never by hand."""

    list_display = (
        "id",
        "task_path",
        "status",
        "queue_name",
        "backend_name",
        "priority",
        "enqueued_at",
        "finished_at",
        "attempts",
    )
    list_filter = ("status", "queue_name", "backend_name")
    search_fields = ("task_path",)
    ordering = ("-enqueued_at",)
    # Without change permission every field is shown read-only; these are the methods.
    readonly_fields = (
        "formatted_args",
        "formatted_kwargs",
        "formatted_return_value",
        "formatted_traceback",
        "formatted_worker_ids",
    )
    fieldsets = (
        (
            None,
            {"fields": ("id", "task_path", "status", "queue_name", "backend_name", "priority")},
        ),
        (_("Arguments"), {"fields": ("formatted_args", "formatted_kwargs")}),
        (
            _("Timing"),
            {
                "fields": (
                    "enqueued_at",
                    "run_after",
                    "started_at",
                    "last_attempted_at",
                    "finished_at",
                )
            },
        ),
        (
            _("Outcome"),
            {
                "fields": (
                    "formatted_return_value",
                    "exception_class_path",
                    "formatted_traceback",
                )
            },
        ),
        (_("Workers"), {"fields": ("formatted_worker_ids", "claimed_by", "lease_expires_at")}),
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: DBTaskResult | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: DBTaskResult | None = None) -> bool:
        return False

    @admin.display(description=_("attempts"))
    def attempts(self, obj: DBTaskResult) -> int:
        worker_ids: object = obj.worker_ids
        return len(cast(list[object], worker_ids)) if isinstance(worker_ids, list) else 0

    @admin.display(description=_("args"))
    def formatted_args(self, obj: DBTaskResult) -> SafeString:
        return _pre_json(obj.args)

    @admin.display(description=_("kwargs"))
    def formatted_kwargs(self, obj: DBTaskResult) -> SafeString:
        return _pre_json(obj.kwargs)

    @admin.display(description=_("return value"))
    def formatted_return_value(self, obj: DBTaskResult) -> SafeString:
        return _pre_json(obj.return_value)

    @admin.display(description=_("traceback"))
    def formatted_traceback(self, obj: DBTaskResult) -> SafeString:
        return format_html("<pre>{}</pre>", obj.traceback)

    @admin.display(description=_("worker ids"))
    def formatted_worker_ids(self, obj: DBTaskResult) -> SafeString:
        return _pre_json(obj.worker_ids)


def _pre_json(value: object) -> SafeString:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, ensure_ascii=False))
