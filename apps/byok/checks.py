"""System check: every FERNET_KEYS entry must be a usable Fernet key."""

from __future__ import annotations

from django.core.checks import Error, register
from django.core.exceptions import ImproperlyConfigured

from .fields import fernet


@register()
def fernet_keys_check(app_configs, **kwargs):
    try:
        fernet()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), hint="Generate one with Fernet.generate_key().", id="byok.E001")]
    return []
