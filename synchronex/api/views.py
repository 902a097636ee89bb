"""The base class of every API view: auth → account quota → scope/plan → query, body and
If-Match checks → idempotency."""

from __future__ import annotations

from django.http import HttpResponse
from rest_framework.views import APIView

from apps.scopes.selectors import NOTICE_HEADER, ActiveSpace, space_for_request
from synchronex.api import errors, idempotency, parsers, preconditions, query_params, ratelimit
from synchronex.api.permissions import required_scope_for
from synchronex.api.scopes import is_read_scope

# The methods that may change something; of those, an operation that needs only read scopes (the
# kernel export's POST) is a read all the same (``ApiView.writes``).
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


# OPTIONS is 204 with ``Allow`` (the route's methods, which the public schema lists too) instead
# of DRF's metadata body, which would show the view's internal docstring. (A comment, not a
# docstring, for the reason given at ApiView.) A plain response, rendered by no renderer: the
# schema's YAML renderer would write "null" for no data, the docs page's HTML one a page.
class AnswersOptions:
    def options(self, request, *args, **kwargs):
        response = HttpResponse(status=204)
        del response["Content-Type"]  # no body, so no type (as DRF leaves an empty render)
        return response


# Subclasses declare ``required_scopes`` ({method: scope} or one scope) and ``required_tier``
# ({method: tier} or one tier), and ``acts_on_space`` unless every method acts on the active space
# (False: none does, else the set of methods that do). It is the one answer to "does this operation
# act on the active space": the OpenAPI document lists the scope header by it, and an
# Idempotency-Key compares the scope only by it. An operation is a write (``writes``) by the scope
# it needs, not by its method: a POST that needs only read scopes is a read, and keeps nothing under
# an Idempotency-Key (``idempotency.claim``). ``versioned`` is the
# set of methods whose operation compares If-Match and If-None-Match with its resource's version;
# every other write refuses an If-Match other than ``*`` and any If-None-Match
# (``preconditions.refuse_without_version``), and reads ignore both, as the OpenAPI document says
# (``openapi.add_common_responses``).
# A comment, not a docstring: drf-spectacular shows the nearest class docstring as the description
# of an operation that has none, and this text is for the code's readers, not the API's.
class ApiView(AnswersOptions, APIView):
    required_scopes: dict[str, str] | str | None = None
    required_tier: dict[str, str] | str | None = None
    acts_on_space: bool | frozenset[str] = True
    versioned: frozenset[str] = frozenset()

    @classmethod
    def acts_on_space_for(cls, method: str) -> bool:
        declared = cls.acts_on_space
        return declared if isinstance(declared, bool) else method.upper() in declared

    @classmethod
    def writes(cls, method: str) -> bool:
        """Whether the operation may change something: a write method unless its ``required_scopes``
        are all read scopes (SPEC §2: exporting by POST needs ``memory:read``, and is a read)."""
        method = method.upper()
        if method not in WRITES:
            return False
        scope = required_scope_for(cls, method)
        scopes = (scope,) if isinstance(scope, str) else scope or ()
        return not (scopes and all(is_read_scope(one) for one in scopes))

    def perform_authentication(self, request):
        user = request.user  # authenticates (raises on bad tokens)
        if user is not None:
            request.rate_usage = ratelimit.consume(user, request=request)

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # Before any work (and before a key is claimed): a query parameter that is not UTF-8 or
        # that the operation does not document (a read that takes some names it with its other
        # problems), a body it could not read as sent, or an If-Match a write without a version
        # cannot honour, is refused, never ignored.
        query_params.refuse_undecodable(request)
        query_params.refuse_unknown(self, request)
        parsers.refuse_encoded_body(request)
        if request.method not in self.versioned and self.writes(request.method):
            preconditions.refuse_without_version(request)
        request.idempotency_record = idempotency.claim(
            request, scoped=self.acts_on_space_for(request.method), writes=self.writes(request.method)
        )

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
