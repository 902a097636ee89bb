from django.urls import path

from apps.scopes.api import views

# Ids are taken as strings and read by the views as the scope header reads one (any case, with or
# without dashes or braces: ``selectors.parse_id``); a ``uuid`` converter would answer other
# spellings with the URL resolver's bare 404 instead of NOT_FOUND "No such workspace.".
urlpatterns = [
    path("scope", views.ScopeView.as_view(), name="scope"),
    path("workspaces", views.WorkspaceListView.as_view(), name="workspaces"),
    path("workspaces/<str:workspace_id>", views.WorkspaceDetailView.as_view(), name="workspace"),
    path("workspaces/<str:workspace_id>/members", views.MemberListView.as_view(), name="workspace-members"),
    path(
        "workspaces/<str:workspace_id>/members/<str:user_id>",
        views.MemberDetailView.as_view(),
        name="workspace-member",
    ),
]
