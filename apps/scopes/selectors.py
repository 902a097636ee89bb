"""The scoped accessor: which space a request acts on.

Every memory endpoint narrows its querysets with ``space_for_request``; nothing else decides
which space a request may see. Workspaces and the active-scope override extend this one place.
"""

from __future__ import annotations

from dataclasses import dataclass

from apps.scopes.models import Space
from apps.scopes.services import space_ensure_personal


@dataclass(frozen=True)
class ActiveSpace:
    space: Space
    role: str  # owner/admin/member/viewer; the personal space is always "owner"

    @property
    def scope(self) -> str:
        return self.space.kind

    @property
    def can_write(self) -> bool:
        return self.role != "viewer"


def space_for_request(request) -> ActiveSpace:
    """The active space of an authenticated API request (cached on the request)."""
    cached = getattr(request, "_active_space", None)
    if cached is not None:
        return cached
    active = ActiveSpace(space=space_ensure_personal(user=request.user), role="owner")
    request._active_space = active
    return active
