from django.apps import AppConfig


class NurtureConfig(AppConfig):
    name = "nurture"
    verbose_name = "Customers"

    def ready(self) -> None:
        # Celery's task signals fire in the process that runs the task: a worker's pool process
        # sets Django up, so this runs there too.
        from nurture import admin_jobs, jobs  # noqa: F401 (admin_jobs registers the JobRun admin)

        jobs.connect_signals()
