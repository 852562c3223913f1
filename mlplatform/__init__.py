"""The ML platform console: the Django project and the core every app shares."""

from mlplatform.celery import app as celery_app

__all__ = ["celery_app"]
