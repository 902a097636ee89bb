from django.urls import path

from .views import DecisionDetailView, DecisionListView, DecisionSearchView

urlpatterns = [
    path("memory/decisions", DecisionListView.as_view(), name="decision-list"),
    # Before the detail route, so "search" is never read as an id.
    path("memory/decisions/search", DecisionSearchView.as_view(), name="decision-search"),
    path("memory/decisions/<str:decision_id>", DecisionDetailView.as_view(), name="decision-detail"),
]
