from django.urls import path

from apps.scopes.api import views

urlpatterns = [
    path("scope", views.ScopeView.as_view(), name="scope"),
    path("workspaces", views.WorkspaceListView.as_view(), name="workspaces"),
    path("workspaces/<uuid:workspace_id>", views.WorkspaceDetailView.as_view(), name="workspace"),
    path("workspaces/<uuid:workspace_id>/members", views.MemberListView.as_view(), name="workspace-members"),
    path(
        "workspaces/<uuid:workspace_id>/members/<uuid:user_id>",
        views.MemberDetailView.as_view(),
        name="workspace-member",
    ),
]
