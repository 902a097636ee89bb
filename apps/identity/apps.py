from django.apps import AppConfig


class IdentityConfig(AppConfig):
    """The Identity Kernel, its revisions, the injection block and the kernel export."""

    name = "apps.identity"
    label = "identity"
