"""A Celery-style Django project (its celery.py and tasks), with only the imports changed."""

# As in every Celery + Django project: the app is loaded when Django starts.
from .celery import app as celery_app

__all__ = ("celery_app",)
