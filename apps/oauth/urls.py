from django.urls import path  # noqa: F401

# Browser and OAuth protocol routes (/oauth/…, /api/oauth/…, /.well-known/…, /settings/apps).
urlpatterns: list = []
