from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Users, plans and API keys."""

    name = "apps.accounts"
    label = "accounts"
