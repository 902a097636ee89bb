from django.urls import path

from apps.memory.api.mif_views import MifExportView, MifImportView
from apps.memory.api.views import ConsolidateView, ConsolidationJobView, MemorySearchView

urlpatterns = [
    path("memory/search", MemorySearchView.as_view(), name="memory-search"),
    path("memory/export-mif", MifExportView.as_view(), name="memory-export-mif"),
    path("memory/import-mif", MifImportView.as_view(), name="memory-import-mif"),
    path("memory/consolidate", ConsolidateView.as_view(), name="memory-consolidate"),
    path("memory/consolidate/<str:job_id>", ConsolidationJobView.as_view(), name="memory-consolidation-job"),
]
