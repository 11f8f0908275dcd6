"""
The read-only admin of the task table, laid out for an operator: the list fits a laptop
screen with the navigation sidebar open, and a task's page shows its error first, in
full, and its arguments against the task's parameter names. The one thing it changes:
"Retry" runs selected FAILED tasks again.
"""

import inspect
import json
import re
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.functional import lazy
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.text import format_lazy
from django.utils.translation import gettext, gettext_noop, ngettext
from django.utils.translation import gettext_lazy as _

from ...base import TaskResultStatus
from ...exceptions import InvalidTask
from ...execution import resolve_task
from . import schedule_admin as schedule_admin  # Periodic schedules have an admin of their own.
from .models import DBTaskResult
from .records import StoredError
from .rows import stored_errors_of

if TYPE_CHECKING:
    ModelAdmin = admin.ModelAdmin[DBTaskResult]
else:  # Generic only in django-stubs.
    ModelAdmin = admin.ModelAdmin

# JSON longer than this (in lines of its pretty form) is folded on the detail page.
FOLD_LINES = 12
# Characters of JSON in a preview: of a task's arguments in the list (on hover), of a
# folded value on a task's page.
PREVIEW_CHARS = 60
# Characters of an error summary in the list (the cell's title holds all of it).
LIST_ERROR_CHARS = 120
# The first characters of an id: what the list shows, and enough to search by.
SHORT_ID_CHARS = 8

_HEX_ID = re.compile(r"[0-9a-f]{1,32}")


def _zoned_label(label: str) -> str:
    return f"{gettext(label)} ({timezone.get_current_timezone_name()})"


# A column label naming the time zone its times are in, made when the page is.
_zoned = lazy(_zoned_label, str)


def _status(obj: DBTaskResult) -> TaskResultStatus:
    return TaskResultStatus(obj.status)


class _RecentFilter(admin.SimpleListFilter):
    """
    Rows whose time field is within the last hour, day, week or month. A plain range
    comparison with a bound computed here, so it needs no time-zone support in the
    database (MySQL and MariaDB without their time-zone tables included).
    """

    field_name = ""
    spans = (
        ("1h", _("Last hour"), timedelta(hours=1)),
        ("24h", _("Last 24 hours"), timedelta(days=1)),
        ("7d", _("Last 7 days"), timedelta(days=7)),
        ("30d", _("Last 30 days"), timedelta(days=30)),
    )

    def lookups(self, request: HttpRequest, model_admin: ModelAdmin) -> list[tuple[str, str]]:
        return [(key, str(label)) for key, label, _span in self.spans]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        for key, _label, span in self.spans:
            if self.value() == key:
                return queryset.filter(**{f"{self.field_name}__gte": timezone.now() - span})
        return queryset


class EnqueuedFilter(_RecentFilter):
    title = _("enqueued")
    parameter_name = "enqueued"
    field_name = "enqueued_at"


class FinishedFilter(_RecentFilter):
    title = _("finished")
    parameter_name = "finished"
    field_name = "finished_at"


@admin.register(DBTaskResult)
class DBTaskResultAdmin(ModelAdmin):
    """
    Read-only: results are written by enqueue and by workers, never by hand. Users with
    the change permission may only retry FAILED tasks (the "Retry" action).
    """

    list_display = (
        "short_id",
        "status_badge",
        "task",
        "queue",
        "enqueued",
        "finished",
        "duration",
        "attempts",
    )
    list_display_links = ("short_id",)
    list_filter = ("status", "queue_name", "backend_name", EnqueuedFilter, FinishedFilter)
    search_fields = ("task_path", "queue_name")
    search_help_text = _("A task path, a queue, or a task id (in full or its first characters).")
    ordering = ("-enqueued_at",)
    actions = ("retry",)
    # Without change permission every field is shown read-only; these are the methods.
    readonly_fields = (
        "status_badge",
        "attempts",
        "error_summary",
        "formatted_traceback",
        "earlier_errors",
        "formatted_arguments",
        "formatted_return_value",
        "enqueued_at_full",
        "run_after_full",
        "started_at_full",
        "last_attempted_at_full",
        "finished_at_full",
        "duration",
        "formatted_worker_ids",
        "lease_expires_at_full",
    )

    class Media:
        css = {"all": ("django_tasks_database/admin.css",)}

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: DBTaskResult | None = None) -> bool:
        # A task's page stays read-only (obj); the list's actions ask with obj=None.
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: DBTaskResult | None = None) -> bool:
        return False

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # A list to view, even for those who may retry tasks (whom Django would ask to
        # "change" them).
        title = gettext("Select %s to view") % self.opts.verbose_name
        return super().changelist_view(request, {"title": title, **(extra_context or {})})

    # The options of a fieldset are Any: django-stubs names their TypedDict privately.
    def get_fieldsets(
        self, request: HttpRequest, obj: DBTaskResult | None = None
    ) -> tuple[tuple[str | None, Any], ...]:
        """Only what the task has: no error for one that never failed, no return value
        for one that never returned."""
        assert obj is not None  # There is no add page.
        summary = (
            "id",
            "task_path",
            ("status_badge", "attempts"),
            ("queue_name", "backend_name", "priority"),
        )
        fieldsets: list[tuple[str | None, Any]] = [(None, {"fields": summary})]
        errors = stored_errors_of(obj)
        if errors:
            error = ["error_summary", "formatted_traceback"]
            error += ["earlier_errors"] if len(errors) > 1 else []
            fieldsets.append((gettext("Error"), {"fields": error}))
        if _status(obj) is TaskResultStatus.SUCCESSFUL:
            fieldsets.append((gettext("Result"), {"fields": ("formatted_return_value",)}))
        fieldsets.append((gettext("Arguments"), {"fields": ("formatted_arguments",)}))
        timing = ["enqueued_at_full"]
        timing += ["run_after_full"] if obj.run_after else []
        timing += ["started_at_full", "last_attempted_at_full", "finished_at_full", "duration"]
        fieldsets.append((gettext("Timing"), {"fields": timing}))
        workers = ["formatted_worker_ids"]
        workers += ["claimed_by", "lease_expires_at_full"] if obj.claimed_by else []
        fieldsets.append((gettext("Workers"), {"fields": workers}))
        return tuple(fieldsets)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[DBTaskResult], search_term: str
    ) -> tuple[QuerySet[DBTaskResult], bool]:
        """Task path and queue as usual, or a task id, in full or its first characters."""
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        id_match = _id_lookup(search_term)
        if id_match is not None:
            found = found | queryset.filter(id_match)
        return found, may_have_duplicates

    @admin.action(description=_("Retry selected failed tasks"), permissions=["change"])
    def retry(self, request: HttpRequest, queryset: QuerySet[DBTaskResult]) -> None:
        """A new attempt of each FAILED task, due now; its errors and attempts are kept."""
        selected = list(queryset.values_list("pk", "status"))
        failed = [pk for pk, status in selected if status == TaskResultStatus.FAILED]
        retried = DBTaskResult.objects.retry(failed)
        if retried:
            self.message_user(
                request,
                ngettext(
                    "%(count)d task will run again.", "%(count)d tasks will run again.", retried
                )
                % {"count": retried},
                messages.SUCCESS,
            )
        if len(selected) > retried:
            left = len(selected) - retried
            self.message_user(
                request,
                ngettext(
                    "%(count)d selected task was not retried: only FAILED tasks can be.",
                    "%(count)d selected tasks were not retried: only FAILED tasks can be.",
                    left,
                )
                % {"count": left},
                messages.WARNING,
            )

    # --- the list -----------------------------------------------------------------

    @admin.display(description=_("id"), ordering="id")
    def short_id(self, obj: DBTaskResult) -> SafeString:
        full = str(obj.id)
        return format_html('<code title="{}">{}</code>', full, full[:SHORT_ID_CHARS])

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, obj: DBTaskResult) -> SafeString:
        return format_html(
            '<span class="dt-status dt-status-{}">{}</span>',
            obj.status.lower(),
            TaskResultStatus(obj.status).label,
        )

    @admin.display(description=_("task"), ordering="task_path")
    def task(self, obj: DBTaskResult) -> SafeString:
        module, _dot, name = obj.task_path.rpartition(".")
        # The module may break after each dot, never inside a name.
        module_parts = module.split(".")
        breakable_module = format_html_join(
            SafeString(".<wbr>"), "{}", ((part,) for part in module_parts)
        )
        # The call, arguments shortened, shows on hover.
        call = f"{obj.task_path}({_shorten(_compact_arguments(obj), PREVIEW_CHARS)})"
        cell = format_html(
            '<span class="dt-task-name" title="{}">{}</span><span class="dt-task-module">{}</span>',
            call,
            name,
            breakable_module,
        )
        if _status(obj) is not TaskResultStatus.FAILED:
            return cell
        summary = _error_summary(obj)
        return format_html(
            '{}<span class="dt-error" title="{}">{}</span>',
            cell,
            summary,
            _shorten(summary, LIST_ERROR_CHARS),
        )

    @admin.display(description=_("queue"), ordering="queue_name")
    def queue(self, obj: DBTaskResult) -> str:
        return obj.queue_name

    @admin.display(description=_zoned(gettext_noop("enqueued / due")), ordering="enqueued_at")
    def enqueued(self, obj: DBTaskResult) -> SafeString:
        """When it was enqueued and, if deferred, when it is due: a deferred task does not
        look like one waiting since its enqueue."""
        if obj.run_after is None:
            return _list_time(obj.enqueued_at)
        return format_html(
            '{}<span class="dt-due">{} {}</span>',
            _list_time(obj.enqueued_at),
            gettext("due"),
            _list_time(obj.run_after),
        )

    @admin.display(description=_zoned(gettext_noop("finished")), ordering="finished_at")
    def finished(self, obj: DBTaskResult) -> SafeString:
        return _list_time(obj.finished_at)

    @admin.display(description=_("duration"), empty_value="")
    def duration(self, obj: DBTaskResult) -> str:
        """How long the latest attempt ran, if it has finished."""
        started = obj.last_attempted_at or obj.started_at
        if started is None or obj.finished_at is None:
            return ""
        return _format_duration(obj.finished_at - started)

    @admin.display(description=_("attempts"))
    def attempts(self, obj: DBTaskResult) -> int:
        worker_ids: object = obj.worker_ids
        return len(cast(list[object], worker_ids)) if isinstance(worker_ids, list) else 0

    # --- a task's page ------------------------------------------------------------

    @admin.display(description=_("error"))
    def error_summary(self, obj: DBTaskResult) -> SafeString:
        return format_html('<div class="dt-error">{}</div>', _error_summary(obj))

    @admin.display(description=_("traceback"))
    def formatted_traceback(self, obj: DBTaskResult) -> SafeString:
        errors = stored_errors_of(obj)
        traceback = errors[-1]["traceback"] if errors else ""
        return format_html('<pre class="dt-pre dt-traceback">{}</pre>', traceback)

    @admin.display(description=_("earlier errors"))
    def earlier_errors(self, obj: DBTaskResult) -> SafeString:
        """The errors of the attempts before the latest, latest first, folded."""
        errors = stored_errors_of(obj)[:-1]
        return format_html_join(
            "",
            '<details class="dt-fold"><summary>{} {}: <span class="dt-error">{}</span>'
            '</summary><pre class="dt-pre dt-traceback">{}</pre></details>',
            (
                (gettext("Error"), number, _summary_of(error), error["traceback"])
                for number, error in reversed(list(enumerate(errors, start=1)))
            ),
        )

    @admin.display(description=_("arguments"))
    def formatted_arguments(self, obj: DBTaskResult) -> SafeString:
        """Against the task's parameter names where it imports; as stored otherwise."""
        args: object = obj.args
        kwargs: object = obj.kwargs
        if not args and not kwargs:
            return _none()
        named = _named_arguments(obj.task_path, args, kwargs)
        if named is None:
            rows: list[tuple[str, object]] = [("args", args), ("kwargs", kwargs)]
            note = gettext("As stored: the task does not import here, or no longer takes them.")
        else:
            rows, note = named, ""
        table = format_html_join(
            "",
            '<tr><th scope="row"><code>{}</code></th><td>{}</td></tr>',
            ((name, _json_block(value)) for name, value in rows),
        )
        return format_html(
            '<table class="dt-arguments">{}</table>{}',
            table,
            format_html('<p class="help">{}</p>', note) if note else "",
        )

    @admin.display(description=_("return value"))
    def formatted_return_value(self, obj: DBTaskResult) -> SafeString:
        return _json_block(obj.return_value)

    @admin.display(description=_("worker ids"))
    def formatted_worker_ids(self, obj: DBTaskResult) -> SafeString:
        worker_ids: object = obj.worker_ids
        return _json_block(worker_ids) if worker_ids else _none()

    @admin.display(description=_("enqueued at"))
    def enqueued_at_full(self, obj: DBTaskResult) -> str:
        return _full_time(obj.enqueued_at)

    @admin.display(description=_("run after"))
    def run_after_full(self, obj: DBTaskResult) -> str:
        return _full_time(obj.run_after)

    @admin.display(description=_("started at"))
    def started_at_full(self, obj: DBTaskResult) -> str:
        return _full_time(obj.started_at)

    @admin.display(description=_("last attempted at"))
    def last_attempted_at_full(self, obj: DBTaskResult) -> str:
        return _full_time(obj.last_attempted_at)

    @admin.display(description=_("finished at"))
    def finished_at_full(self, obj: DBTaskResult) -> str:
        return _full_time(obj.finished_at)

    @admin.display(description=_("lease expires at"))
    def lease_expires_at_full(self, obj: DBTaskResult) -> str:
        return _full_time(obj.lease_expires_at)


def _none() -> SafeString:
    return format_html('<span class="dt-none">{}</span>', gettext("None"))


def _id_lookup(search_term: str) -> Q | None:
    """A filter on ids starting with the search term, if it can be (part of) an id."""
    hex_digits = search_term.strip().lower().replace("-", "")
    if not _HEX_ID.fullmatch(hex_digits):
        return None
    if len(hex_digits) == 32:
        return Q(pk=uuid.UUID(hex_digits))
    # The canonical form, hyphens included: PostgreSQL compares the text of its uuid
    # type; elsewhere Django compares the stored hex digits without the hyphens.
    hyphens_after = (8, 12, 16, 20)
    prefix = "".join(
        f"-{digit}" if i in hyphens_after else digit for i, digit in enumerate(hex_digits)
    )
    return Q(id__startswith=prefix)


def _error_summary(obj: DBTaskResult) -> str:
    """The line of the latest traceback that names the exception and its message."""
    errors = stored_errors_of(obj)
    return _summary_of(errors[-1]) if errors else ""


def _summary_of(error: StoredError) -> str:
    """The line of the traceback that names the exception and its message."""
    lines = [line for line in error["traceback"].splitlines() if line.strip()]
    path = error["exception_class_path"]
    if path:
        names = (path, path.rpartition(".")[2])  # Builtins are shown by bare name.
        for line in reversed(lines):
            if line.startswith(names):
                return line
    return lines[-1] if lines else path


def _named_arguments(
    task_path: str, args: object, kwargs: object
) -> list[tuple[str, object]] | None:
    """The arguments by parameter name, or None if the task does not import or bind them."""
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        return None
    try:
        task = resolve_task(task_path)
    except InvalidTask:
        return None
    signature = inspect.signature(task.func)
    parameters = list(signature.parameters.values())[1 if task.takes_context else 0 :]
    try:
        bound = signature.replace(parameters=parameters).bind(
            *cast(list[object], args), **cast(dict[str, object], kwargs)
        )
    except TypeError:
        return None
    return [
        (_starred(signature.parameters[name]), value) for name, value in bound.arguments.items()
    ]


def _starred(parameter: inspect.Parameter) -> str:
    if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
        return f"*{parameter.name}"
    if parameter.kind is inspect.Parameter.VAR_KEYWORD:
        return f"**{parameter.name}"
    return parameter.name


def _json_block(value: object) -> SafeString:
    """JSON for a task's page: as it is if short, folded under a one-line preview if long."""
    pretty = _pretty_json(value)
    lines = pretty.count("\n") + 1
    if lines <= FOLD_LINES:
        return format_html('<pre class="dt-pre dt-json">{}</pre>', pretty)
    return format_html(
        '<details class="dt-fold"><summary><code>{}</code> <span class="help">{}</span>'
        '</summary><pre class="dt-pre dt-json">{}</pre></details>',
        _shorten(_compact_json(value), PREVIEW_CHARS),
        format_lazy(_("({} lines)"), lines),
        pretty,
    )


def _compact_arguments(obj: DBTaskResult) -> str:
    """The arguments as a call would pass them, in JSON."""
    args: object = obj.args
    kwargs: object = obj.kwargs
    passed: list[str] = []
    if isinstance(args, list):
        passed += [_compact_json(arg) for arg in cast(list[object], args)]
    if isinstance(kwargs, dict):
        items = cast(dict[str, object], kwargs).items()
        passed += [f"{key}={_compact_json(value)}" for key, value in items]
    return ", ".join(passed)


def _compact_json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def _pretty_json(value: object, indent: str = "", width: int = 80) -> str:
    """
    Indented JSON that keeps what fits on a line on one line, and fills lines with the
    items of a list of scalars (a list of 200 numbers takes a few lines, not 200).
    """
    compact = _compact_json(value)
    if len(indent) + len(compact) <= width or not isinstance(value, dict | list):
        return compact
    inner = indent + "  "
    if isinstance(value, dict):
        items = cast(dict[object, object], value).items()
        body = ",\n".join(
            f"{inner}{_compact_json(str(key))}: {_pretty_json(item, inner, width).lstrip()}"
            for key, item in items
        )
        return f"{{\n{body}\n{indent}}}"
    elements = cast(list[object], value)
    if any(isinstance(element, dict | list) for element in elements):
        body = ",\n".join(_pretty_json(element, inner, width) for element in elements)
        if not body.startswith(inner):
            body = inner + body
        return f"[\n{body}\n{indent}]"
    lines: list[str] = []
    line = ""
    for element in (_compact_json(element) for element in elements):
        if line and len(inner) + len(line) + len(element) + 2 > width:
            lines.append(line + ",")
            line = ""
        line = f"{line}, {element}" if line else element
    lines.append(line)
    body = "\n".join(inner + line for line in lines)
    return f"[\n{body}\n{indent}]"


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _local(value: datetime) -> datetime:
    return timezone.localtime(value) if timezone.is_aware(value) else value


def _list_time(value: datetime | None) -> SafeString:
    """Date over time, to the second, in the current time zone (named in the header)."""
    if value is None:
        return SafeString("")
    local = _local(value)
    return format_html(
        '<span class="dt-time">{}<br>{}</span>',
        local.strftime("%Y-%m-%d"),
        local.strftime("%H:%M:%S"),
    )


def _full_time(value: datetime | None) -> str:
    if value is None:
        return "-"
    local = _local(value)
    return f"{local:%Y-%m-%d %H:%M:%S.%f}"[:-3] + f" {local:%Z}".rstrip()


def _format_duration(span: timedelta) -> str:
    seconds = span.total_seconds()
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
