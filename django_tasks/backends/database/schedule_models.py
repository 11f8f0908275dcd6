"""
DBSchedule: a periodic schedule's progress, one row per declared schedule, holding its
last enqueued tick (see scheduler.py and periodic.py). models.py imports it, as Django
looks for an app's models there.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db import models, router
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class DBScheduleManager(models.Manager["DBSchedule"]):
    """The rows of periodic schedules: one per schedule, holding its last enqueued tick."""

    def add_missing(self, schedules: Sequence[tuple[str, str, str]]) -> None:
        """A row for each (key, task path, when) that has none; existing rows stay as they are."""
        self.get_queryset().using(self._write_db()).bulk_create(
            [DBSchedule(key=key, task_path=path, when=when) for key, path, when in schedules],
            ignore_conflicts=True,
        )

    def take_tick(self, key: str, tick: datetime, now: datetime) -> bool:
        """
        Record `tick` as the schedule's last, if its last is older: a compare-and-set, so
        of the workers that try the same tick exactly one gets True. Inside the caller's
        transaction, which then enqueues the tick's task, or rolls both back.
        """
        taken = (
            self.get_queryset()
            .using(self._write_db())
            .filter(Q(last_tick__isnull=True) | Q(last_tick__lt=tick), key=key)
            .update(last_tick=tick, last_enqueued_at=now, last_result_id="")
        )
        return taken == 1

    def note_result(self, key: str, result_id: str) -> None:
        self.get_queryset().using(self._write_db()).filter(key=key).update(last_result_id=result_id)

    def _write_db(self) -> str:
        return self._db or router.db_for_write(self.model)


class DBSchedule(models.Model):
    """A periodic schedule's progress: the last tick that was enqueued (see periodic.py)."""

    # Schedule.key: a digest of the task, when and the arguments.
    key: models.CharField[str, str] = models.CharField(_("key"), max_length=64, primary_key=True)
    task_path: models.TextField[str, str] = models.TextField(_("task path"))
    when: models.TextField[str, str] = models.TextField(_("when"))
    last_tick: models.DateTimeField[datetime | None, datetime | None] = models.DateTimeField(
        _("last tick"), null=True, blank=True
    )
    last_enqueued_at: models.DateTimeField[datetime | None, datetime | None] = models.DateTimeField(
        _("last enqueued at"), null=True, blank=True
    )
    # The id of the last tick's TaskResult, on the task's own backend.
    last_result_id: models.CharField[str, str] = models.CharField(
        _("last result id"), max_length=64, blank=True, default=""
    )

    objects = DBScheduleManager()

    class Meta:
        verbose_name = _("periodic schedule")
        verbose_name_plural = _("periodic schedules")
        ordering = ["task_path", "key"]

    def __str__(self) -> str:
        return f"{self.task_path} ({self.when})"
