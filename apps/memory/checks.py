"""System check: a deployment's local embedding provider needs its optional package.

Without it the service still runs and searches by keywords only; the warning says so at start
(``manage.py check``, ``migrate``, ``runserver``) rather than only in the worker's log.
"""

from __future__ import annotations

import importlib.util

from django.conf import settings
from django.core.checks import Warning, register


@register()
def local_embeddings_check(app_configs, **kwargs):
    if settings.EMBEDDINGS_PROVIDER != "local" or importlib.util.find_spec("sentence_transformers"):
        return []
    return [
        Warning(
            "EMBEDDINGS_PROVIDER=local, but sentence-transformers is not installed: nothing will be embedded "
            "and searches rank by keywords only.",
            hint="pip install -r requirements-local.txt",
            id="memory.W001",
        )
    ]
