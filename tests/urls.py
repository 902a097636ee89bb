from django.urls import include, path

from tests import plumbing_views

urlpatterns = [
    path("api/v1/_test/echo", plumbing_views.EchoView.as_view()),
    path("api/v1/_test/pro", plumbing_views.ProOnlyView.as_view()),
    path("api/v1/_test/boom", plumbing_views.BoomView.as_view()),
    path("", include("synchronex.urls")),
]
