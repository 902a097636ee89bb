from django.apps import AppConfig


class ProductsConfig(AppConfig):
    """Product state per space."""

    name = "apps.products"
    label = "products"
