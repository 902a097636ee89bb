from django.urls import path

from apps.accounts import views

urlpatterns = [
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", views.LogoutView.as_view(), name="logout"),
    path("settings/keys", views.api_keys, name="api-keys"),
    path("settings/keys/<uuid:key_id>/revoke", views.api_key_revoke_view, name="api-key-revoke"),
]
