"""The permission layer: each view declares the scope (per method) and plan it needs."""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from apps.scopes.selectors import space_for_request
from synchronex.api import errors


def required_scope_for(view, method: str) -> str | tuple[str, ...] | None:
    """The scope a method needs, or a tuple of scopes any one of which will do."""
    declared = getattr(view, "required_scopes", None)
    if isinstance(declared, dict):
        return declared.get(method) or (declared.get("GET") if method == "HEAD" else None)
    return declared


# No OAuth scope grants these (SPEC §2's table names none, and the consent page never asks): an app
# the user connected must not share their workspaces with other accounts, and what it did would
# outlive disconnecting it.
API_KEY_ONLY = "Only an API key with the write scope may do this; no OAuth scope grants it."


def api_key_only(view, method: str) -> bool:
    """Whether a method is refused to every credential but an API key (``api_key_only``: the
    methods; the key still needs the method's ``required_scopes``)."""
    return method in getattr(view, "api_key_only", ())


def required_tier_for(view, method: str) -> str | None:
    """The plan a method needs: ``required_tier`` is one tier for every method or ``{method: tier}``
    (a method it does not name needs none, e.g. reading and deleting what a lower plan keeps)."""
    declared = getattr(view, "required_tier", None)
    if isinstance(declared, dict):
        return declared.get(method) or (declared.get("GET") if method == "HEAD" else None)
    return declared


class HasRequiredAccess(BasePermission):
    """Authenticated, holding the view's scope for this method, on a plan that has the feature."""

    def has_permission(self, request, view) -> bool:
        if request.user is None or request.auth is None:
            return False  # DRF turns this into NotAuthenticated → UNAUTHORIZED
        if request.method == "OPTIONS":
            return True  # answered with the route's methods only (ApiView.options), on any scope
        scope = required_scope_for(view, request.method)
        if scope is None:
            raise errors.MethodNotAllowed(f"Method {request.method} is not allowed here.")
        scopes = (scope,) if isinstance(scope, str) else scope
        if request.auth.kind != "api_key" and api_key_only(view, request.method):
            # Not InsufficientScope: no step-up challenge, as no scope the user could grant would do.
            raise errors.Forbidden(API_KEY_ONLY, details={"required_scopes": []})
        if not any(request.auth.allows(one) for one in scopes):
            named = " or the ".join(f"'{one}'" for one in scopes)
            raise errors.InsufficientScope(f"This token lacks the {named} scope.", scopes=list(scopes))
        tier = required_tier_for(view, request.method)
        if tier:
            # A workspace uses its owner's plan (SPEC §2); the personal space is the caller's own.
            owner = space_for_request(request).space.owner
            if not owner.has_tier(tier):
                raise errors.TierRequired(
                    f"This feature needs the {tier} plan or above.",
                    details={"required_tier": tier, "current_tier": owner.tier},
                )
        return True
