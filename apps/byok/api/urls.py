from django.urls import path

from .views import ByokDetailView, ByokListView

urlpatterns = [
    path("byok", ByokListView.as_view(), name="byok-list"),
    path("byok/<str:credential_id>", ByokDetailView.as_view(), name="byok-detail"),
]
