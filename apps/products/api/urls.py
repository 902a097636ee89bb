from django.urls import path

from .views import ProductListView, ProductStateView

urlpatterns = [
    path("memory/products", ProductListView.as_view(), name="product-list"),
    # ``path`` so that an encoded slash (%2F, decoded by the server) stays part of the name.
    path("memory/product/<path:name>/state", ProductStateView.as_view(), name="product-state"),
]
