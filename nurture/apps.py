from django.apps import AppConfig


class NurtureConfig(AppConfig):
    name = "nurture"
    verbose_name = "Customers"

    def ready(self) -> None:
        from nurture import receivers  # noqa: F401 (connects the model signal receivers)
        from nurture.services import job_runs

        # Celery's task signals fire in the process that runs the task: a worker's pool process
        # sets Django up, so this runs there too.
        job_runs.connect_signals()
