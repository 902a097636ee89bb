from django.urls import path

from apps.identity.api.views import KernelExportView, KernelHistoryView, KernelView

urlpatterns = [
    path("memory/identity", KernelView.as_view(), name="identity"),
    path("memory/identity/history", KernelHistoryView.as_view(), name="identity-history"),
    path("kernel/export", KernelExportView.as_view(), name="kernel-export"),
]
