"""Browser pages: the consent page (/oauth/authorize) and connected apps (/settings/apps)."""

from __future__ import annotations

from urllib.parse import urlsplit

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from oauth2_provider.exceptions import OAuthToolkitError
from oauth2_provider.forms import AllowForm
from oauth2_provider.models import get_application_model
from oauth2_provider.oauth2_backends import _add_iss_to_redirect
from oauth2_provider.settings import oauth2_settings
from oauth2_provider.views import AuthorizationView
from oauth2_provider.views.mixins import OAuthLibMixin
from oauthlib.oauth2.rfc6749 import errors as oauth_errors

from apps.accounts.views import PAGE_SIZE as SETTINGS_PAGE_SIZE
from apps.oauth.readable import unreadable_reason
from apps.oauth.resources import PROTECTED_RESOURCES, served_resource
from apps.oauth.selectors import connected_apps
from apps.oauth.services import connected_app_revoke
from apps.oauth.validators import OAuth2Validator, code_challenge_problem, invalid_target, is_vschar
from synchronex.api import errors
from synchronex.api.parsers import refuse_encoded_body


class ConsentForm(AllowForm):
    # Empty when the authorization request named no redirect_uri (see ConsentView.get_initial).
    redirect_uri = forms.CharField(required=False, widget=forms.HiddenInput())
    # Sent back to the app exactly as it came: spaces are VSCHAR too, and Django strips them.
    state = forms.CharField(required=False, strip=False, widget=forms.HiddenInput())


# The consent form (its CSRF token, the app and scopes) and the connected apps are one account's:
# never kept by a browser's history or any cache, like the admin's pages.
@method_decorator(never_cache, name="dispatch")
class ConsentView(AuthorizationView):
    """DOT's authorization endpoint with this site's consent page.

    Login comes first (DOT's LoginRequiredMixin). Errors that cannot go back to the client
    (unknown client, unregistered redirect URI) are answered as the JSON error envelope;
    the others are redirected to the client as RFC 6749 §4.1.2.1 says. Like every page it is
    sent ``X-Frame-Options: DENY`` and a CSP with ``frame-ancestors 'none'``
    (``synchronex.page_security``): no other site can frame it (clickjacking).
    """

    template_name = "oauth/authorize.html"
    form_class = ConsentForm
    # The page and its form. FormView would treat PUT as POST, but Django reads no form from a PUT
    # body: it could only be refused as an altered form, so it is 405 and not advertised in Allow.
    http_method_names = ["get", "post", "head", "options"]
    # This server's validator (apps.oauth.validators), which checks the challenge it stores.
    validator_class = OAuth2Validator
    # Set by form_valid when the authorization request named no redirect_uri.
    redirect_uri_omitted = False

    def get_initial(self):
        # RFC 6749 §4.1.3: the token request must repeat redirect_uri only if the authorization
        # request had one. DOT's form would carry the registered URI oauthlib filled in, so the
        # click could not tell; the field stays empty instead (form_valid fills it in).
        initial = super().get_initial()
        if "redirect_uri" not in self.request.GET:
            initial["redirect_uri"] = ""
        return initial

    def create_authorization_response(self, request, scopes, credentials, allow):
        # Reaches oauthlib's request, where the validator records it on the grant (the exchange
        # may then leave redirect_uri out too).
        credentials["redirect_uri_omitted"] = self.redirect_uri_omitted
        return super().create_authorization_response(request, scopes, credentials, allow)

    def dispatch(self, request, *args, **kwargs):
        # A form with a Content-Encoding is refused (415), as on the API, never read as if plain.
        refuse_encoded_body(request)
        # A request oauthlib cannot read has no redirect URI it could check: the error stays here.
        reason = unreadable_reason(self, request)
        if reason is not None:
            raise errors.ValidationFailed(reason, details={"oauth_error": "invalid_request"})
        return super().dispatch(request, *args, **kwargs)

    def get(self, request, *args, **kwargs):
        # DOT lets the client ask for approval_prompt=auto to skip this page when a token
        # already exists; here the user always sees what they grant.
        if "approval_prompt" in request.GET:
            request.GET = request.GET.copy()
            del request.GET["approval_prompt"]
        if "none" in request.GET.get("prompt", "").split():
            # prompt=none asks for an answer without any page (OpenID Connect Core §3.1.2.6). The
            # consent page is always shown, so a signed-in user's request is consent_required;
            # DOT answers an anonymous one login_required before this.
            try:
                _scopes, credentials = self.validate_authorization_request(request)
            except OAuthToolkitError as error:
                return self.error_response(error, application=None)
            consent_required = oauth_errors.ConsentRequired(request=credentials["request"])
            return self.error_response(OAuthToolkitError(error=consent_required), application=None)
        return super().get(request, *args, **kwargs)

    def form_valid(self, form):
        # DOT looks the posted client up with .get(): an app deleted (or a client_id altered)
        # between the page and the click is the request's fault, not an unexpected error.
        application = get_application_model().objects.filter(client_id=form.cleaned_data.get("client_id")).first()
        if application is None:
            raise errors.ValidationFailed("Unknown client_id.", details={"oauth_error": "invalid_client"})
        if not form.cleaned_data.get("redirect_uri"):
            # The authorization request named none: the answer goes to the one registered URI
            # (§3.1.2.3, as oauthlib chose on the page), and the grant records that none was named.
            try:
                form.cleaned_data["redirect_uri"] = application.default_redirect_uri
            except oauth_errors.OAuth2Error as error:  # the app registered more URIs since the page
                raise errors.ValidationFailed(error.description, details={"oauth_error": "invalid_request"}) from error
            self.redirect_uri_omitted = True
        return super().form_valid(form)

    def form_invalid(self, form):
        # DOT renders the page again with the form alone: no app, no scopes, no redirect host, and
        # Allow and Deny posting the same form. The page fills every field from a request already
        # checked, so this form was altered; its redirect URI is not known good: the error stays here.
        fields = {name: [error["message"] for error in found] for name, found in form.errors.get_json_data().items()}
        raise errors.ValidationFailed(
            "The consent form was altered or is incomplete: open the app's authorization link again.",
            details={"oauth_error": "invalid_request", "fields": fields},
        )

    def validate_authorization_request(self, request):
        scopes, credentials = super().validate_authorization_request(request)
        # DOT refuses "plain" only once the user has clicked Allow; refuse it before asking.
        if credentials.get("code_challenge_method") != "S256":
            raise OAuthToolkitError(
                error=oauth_errors.InvalidRequestError(
                    description="PKCE is required with code_challenge_method=S256.", request=credentials["request"]
                )
            )
        # A challenge no verifier can match would only fail at the token endpoint, after consent.
        problem = code_challenge_problem(credentials.get("code_challenge"))
        if problem is not None:
            raise OAuthToolkitError(
                error=oauth_errors.InvalidRequestError(description=problem, request=credentials["request"])
            )
        # RFC 6749 Appendix A.5: state is VSCHAR, and the page's form could not carry every other
        # character back (a NUL: the click answered a blank page). Refused before asking; the
        # redirect carries it back as received, as every error redirect does.
        if not is_vschar(credentials.get("state") or ""):
            raise OAuthToolkitError(
                error=oauth_errors.InvalidRequestError(
                    description="state must be printable ASCII (RFC 6749 Appendix A.5).", request=credentials["request"]
                )
            )
        # RFC 8707 §2: a resource this server does not serve is refused before asking, as an
        # error redirect (DOT checks only that it is an absolute URI).
        if any(served_resource(uri) is None for uri in request.GET.getlist("resource")):
            raise OAuthToolkitError(error=invalid_target(credentials["request"]))
        return scopes, credentials

    def error_response(self, error, application, **kwargs):
        # OAuthLibMixin decides whether the client may be redirected to; DOT's own override
        # would render its HTML error page for the other case.
        redirect_to_client, info = OAuthLibMixin.error_response(self, error, **kwargs)
        if redirect_to_client:
            return self.redirect(info["url"], application)
        oauth_error = info["error"]
        raise errors.ValidationFailed(
            oauth_error.description or "The authorization request is not valid.",
            details={"oauth_error": oauth_error.error},
        )

    def redirect(self, redirect_to, application):
        # RFC 9207 §2: every authorization response names the issuer, error responses too
        # (access_denied, invalid_scope, the PKCE refusal, login_required); DOT adds it only to
        # the code. Its own helper replaces any iss already there, so none is ever doubled.
        if oauth2_settings.COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS:
            issuer = oauth2_settings.oauth2_authorization_server_issuer(self.request)
            redirect_to = _add_iss_to_redirect(redirect_to, issuer)
        return super().redirect(redirect_to, application)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        redirect_uri = kwargs.get("redirect_uri") or ""
        context["redirect_host"] = urlsplit(redirect_uri).netloc
        context["scope_items"] = list(zip(kwargs.get("scopes", []), kwargs.get("scopes_descriptions", []), strict=True))
        # DOT passes the requested resources (already checked) as one space-separated string.
        served = (served_resource(uri) for uri in (kwargs.get("resource") or "").split())
        context["resource_names"] = [PROTECTED_RESOURCES[path] for path in served if path]
        return context


@never_cache
@require_GET
@login_required
def connected_apps_page(request):
    """``/settings/apps``: the user's connected apps, a page at a time (``?page=``)."""
    page = connected_apps(user=request.user, page=request.GET.get("page"), per_page=SETTINGS_PAGE_SIZE)
    return render(request, "oauth/apps.html", {"apps": page.object_list, "page": page})


@require_POST
@login_required
def connected_app_revoke_view(request, application_id: int):
    try:
        application = connected_app_revoke(user=request.user, application_id=application_id)
    except errors.NotFound:
        messages.error(request, "That app is not connected.")
    else:
        messages.success(request, f"Disconnected “{application.name or application.client_id}”.")
    return redirect("connected-apps")
