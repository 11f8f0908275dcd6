from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class DjangoTasksConfig(AppConfig):
    name = "django_tasks"
    verbose_name = "Tasks"

    def ready(self) -> None:
        # Import every app's tasks module, so the system checks see its tasks.
        autodiscover_modules("tasks")
