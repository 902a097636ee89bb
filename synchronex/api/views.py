"""The base class of every API view: auth → account quota → scope/plan → query and body checks →
idempotency."""

from __future__ import annotations

from rest_framework.response import Response
from rest_framework.views import APIView

from apps.scopes.selectors import NOTICE_HEADER, ActiveSpace, space_for_request
from synchronex.api import errors, idempotency, parsers, query_params, ratelimit


# OPTIONS is 204 with ``Allow`` (the route's methods, which the public schema lists too) instead
# of DRF's metadata body, which would show the view's internal docstring. (A comment, not a
# docstring, for the reason given at ApiView.)
class AnswersOptions:
    def options(self, request, *args, **kwargs):
        return Response(status=204)


# Subclasses declare ``required_scopes`` ({method: scope} or one scope) and ``required_tier``
# ({method: tier} or one tier).
# A comment, not a docstring: drf-spectacular shows the nearest class docstring as the description
# of an operation that has none, and this text is for the code's readers, not the API's.
class ApiView(AnswersOptions, APIView):
    required_scopes: dict[str, str] | str | None = None
    required_tier: dict[str, str] | str | None = None

    def perform_authentication(self, request):
        user = request.user  # authenticates (raises on bad tokens)
        if user is not None:
            request.rate_usage = ratelimit.consume(user, request=request)

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # Before any work (and before a key is claimed): a query parameter the operation does not
        # document (a read that takes some names it with its other problems), or a body it could
        # not read as sent, is refused, never ignored.
        query_params.refuse_unknown(self, request)
        parsers.refuse_encoded_body(request)
        request.idempotency_record = idempotency.claim(request)

    def handle_exception(self, exc):
        if isinstance(exc, idempotency.Replay):
            return exc.response()
        return super().handle_exception(exc)

    def finalize_response(self, request, response, *args, **kwargs):
        unanswered = query_params.still_unanswered(request, response)
        if unanswered is not None:
            response = self.handle_exception(unanswered)
        response = super().finalize_response(request, response, *args, **kwargs)
        active = getattr(request, "_active_space", None)
        if active is not None and active.notice:
            response[NOTICE_HEADER] = active.notice
        usage = getattr(request, "rate_usage", None)
        if usage is not None:
            for name, value in usage.headers().items():
                response.setdefault(name, value)
        record = getattr(request, "idempotency_record", None)
        if record is not None:
            idempotency.settle(record, response)
        return response

    # -- helpers for subclasses -----------------------------------------------------------------
    @property
    def active(self) -> ActiveSpace:
        """The caller's active space (the scoped accessor), writable check included for writes."""
        return space_for_request(self.request)

    def writable_space(self) -> ActiveSpace:
        active = self.active
        if not active.can_write:
            raise errors.Forbidden("Viewers of this workspace can read but not write.")
        return active


# An unauthenticated JSON endpoint (health, metadata); a comment for the reason given at ApiView.
class PublicView(AnswersOptions, APIView):
    authentication_classes: list = []
    permission_classes: list = []
