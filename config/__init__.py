"""The project: settings, URLs, the Celery app and the health endpoint; the domains live in nurture/ and campaigns/."""

from config.celery import app as celery_app

__all__ = ("celery_app",)
