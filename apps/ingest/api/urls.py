from django.urls import path

from .views import IngestView

urlpatterns = [
    # ``path`` so that an encoded slash (%2F) stays part of a product name.
    path("ingest/<path:project_id>", IngestView.as_view(), name="ingest"),
]
