from django.urls import path

from apps.memory.api.views import MemorySearchView

urlpatterns = [
    path("memory/search", MemorySearchView.as_view(), name="memory-search"),
]
