from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = "Campaigns"

    def ready(self) -> None:
        from campaigns import audit, receivers  # noqa: F401 (receivers connects the signal receivers)

        audit.register()
