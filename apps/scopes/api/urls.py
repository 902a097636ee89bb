from django.urls import path

from apps.scopes.api.views import ScopeView

urlpatterns = [
    path("scope", ScopeView.as_view(), name="scope"),
]
