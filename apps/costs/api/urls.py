from django.urls import path

from .views import CostSummaryView, ProductCostSummaryView

urlpatterns = [
    path("ai/costs", CostSummaryView.as_view(), name="ai-costs"),
    # ``path`` so that an encoded slash (%2F) stays part of the product name.
    path("ai/costs/<path:product>", ProductCostSummaryView.as_view(), name="ai-costs-product"),
]
