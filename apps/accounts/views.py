"""Browser pages: login (throttled) and the API key settings page."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from apps.accounts.forms import ApiKeyCreateForm, key_form_token
from apps.accounts.services import api_key_create, api_key_revoke
from synchronex.api import errors
from synchronex.api.ratelimit import ip_throttled, wait_in_words

PAGE_SIZE = 50  # rows per settings page (keys here, apps on /settings/apps)


def throttled_page(request, wait: int):
    """The 429 page of the login forms (this site's and the admin's), saying in ``Retry-After`` when
    the address's window ends, as the API does, and in words the same wait."""
    response = render(request, "accounts/throttled.html", {"wait": wait_in_words(wait)}, status=429)
    response["Retry-After"] = str(wait)
    return response


class LoginView(auth_views.LoginView):
    """The login form, throttled per client IP (failed and successful posts alike)."""

    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        wait = ip_throttled(request, group="login", rate=settings.LOGIN_RATE)
        if wait is not None:
            return throttled_page(request, wait)
        return super().post(request, *args, **kwargs)

    def get_redirect_url(self):
        # A ``next`` back to this page would send a signed-in user round in a loop (Django raises
        # rather than redirect): such a link goes to the usual page instead.
        url = super().get_redirect_url()
        return "" if url and urlsplit(url).path == self.request.path else url


class LogoutView(auth_views.LogoutView):
    """Ends the session. Only posts that end none (signed out already, or anyone with the login
    page's CSRF token) are throttled per client IP: the address is shared (a NAT, an office proxy),
    so a spent budget must never keep a signed-in user's session open. Each session a logout ends
    took a login, which is throttled."""

    template_name = "accounts/logged_out.html"

    def post(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            wait = ip_throttled(request, group="logout", rate=settings.LOGIN_RATE)
            if wait is not None:
                return throttled_page(request, wait)
        return super().post(request, *args, **kwargs)


# One account's keys: never kept by a browser's history or any cache (Back after signing out
# showed them), like the admin's pages; the login form already is (Django's never_cache).
@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def api_keys(request):
    """List the user's keys a page at a time (``?page=``, newest first); create one (its raw value
    is shown once, on this response only, with the first page). Every page carries a new one-time
    token for its form: the same form sent again makes no key (``ApiKeyCreateForm``)."""
    created_raw = None
    form = ApiKeyCreateForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        days = form.cleaned_data.get("expires_in_days")
        expires_at = timezone.now() + timedelta(days=days) if days else None
        _, created_raw = api_key_create(
            user=request.user, name=form.cleaned_data["name"], scope=form.cleaned_data["scope"], expires_at=expires_at
        )
        form = ApiKeyCreateForm()
    keys = request.user.api_keys.order_by("-created_at", "-id")
    # get_page: a missing, malformed or too large ?page= is the first or last page, never an error.
    page = Paginator(keys, PAGE_SIZE).get_page(None if created_raw else request.GET.get("page"))
    context = {
        "form": form,
        "once": key_form_token(request.user),
        "keys": page.object_list,
        "page": page,
        "created_raw": created_raw,
    }
    return render(request, "accounts/api_keys.html", context)


@login_required
@require_POST
def api_key_revoke_view(request, key_id):
    try:
        key = api_key_revoke(user=request.user, key_id=key_id)
    except errors.NotFound:
        messages.error(request, "That key does not exist.")
    else:
        messages.success(request, f"Revoked “{key.name}”.")
    return redirect("api-keys")
