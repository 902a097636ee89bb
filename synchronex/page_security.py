"""The Content-Security-Policy of the browser pages, sent from one place.

Every HTML answer gets it: the login, logout and throttled pages, ``/settings/keys`` (which shows
a new key's raw value), ``/settings/apps``, the consent page, and Django's own error pages (404,
405, the CSRF refusal). The pages load only this site's stylesheet and run no script, so the
policy costs them nothing; an injection they missed could load nothing from elsewhere, and no
other site may frame them (``frame-ancestors``, with the ``X-Frame-Options: DENY`` Django sends).

Not sent by the admin (a space's memory overview writes its style inline) or the API docs page
(Swagger UI starts from an inline script and style, and showed nothing under the policy): both
keep their other headers. A response that names a policy of its own keeps it. JSON and other answers get none.
"""

from __future__ import annotations

PAGE_CSP = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
WITHOUT_POLICY = ("/admin/", "/api/v1/docs")


class PageSecurityMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.get("Content-Type", "").startswith("text/html") and not request.path.startswith(WITHOUT_POLICY):
            response.setdefault("Content-Security-Policy", PAGE_CSP)
        return response
