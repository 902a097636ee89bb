"""The Celery app. Broker: Redis in production (``REDIS_URL``); by default, the embedded database."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "synchronex.settings")

app = Celery("synchronex")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
