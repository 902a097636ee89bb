"""Writes for spaces, workspaces, memberships and the stored active scope."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from apps.scopes.models import ActiveScope, Membership, Role, Space
from synchronex.api import errors

ASSIGNABLE_ROLES = (Role.ADMIN, Role.MEMBER, Role.VIEWER)


def space_ensure_personal(*, user) -> Space:
    """Return the user's personal space, creating it on first need (race-safe)."""
    space = Space.objects.filter(owner=user, kind=Space.Kind.PERSONAL).first()
    if space is not None:
        return space
    try:
        with transaction.atomic():
            return Space.objects.create(owner=user, kind=Space.Kind.PERSONAL, name=user.email)
    except IntegrityError:
        return Space.objects.get(owner=user, kind=Space.Kind.PERSONAL)


@transaction.atomic
def workspace_create(*, owner, name: str, kind: str) -> Space:
    """Create a team or agency workspace; its creator becomes its owner."""
    if not owner.has_tier("team"):
        raise errors.TierRequired(
            "Workspaces need the team plan or above.",
            details={"required_tier": "team", "current_tier": owner.tier},
        )
    workspace = Space.objects.create(owner=owner, kind=kind, name=name)
    Membership.objects.create(space=workspace, user=owner, role=Role.OWNER)
    return workspace


@transaction.atomic
def member_put(*, actor_membership: Membership, user, role: str) -> tuple[Membership, bool]:
    """Add a user to the workspace or change their role; returns (membership, created).

    Owners and admins manage members; nobody changes the owner's role here, and only the owner
    may make someone an admin.
    """
    if actor_membership.role not in (Role.OWNER, Role.ADMIN):
        raise errors.Forbidden("Only the workspace's owner and admins can manage members.")
    if role == Role.ADMIN and actor_membership.role != Role.OWNER:
        raise errors.Forbidden("Only the workspace's owner can make someone an admin.")
    space = actor_membership.space
    existing = Membership.objects.select_for_update().filter(space=space, user=user).first()
    if existing is not None:
        if existing.role == Role.OWNER:
            raise errors.Conflict("The owner's role cannot be changed.")
        existing.role = role
        existing.save(update_fields=["role"])
        return existing, False
    return Membership.objects.create(space=space, user=user, role=role), True


@transaction.atomic
def member_remove(*, actor_membership: Membership, user_id) -> None:
    """Remove a member (owners and admins may remove others; anyone may leave)."""
    space = actor_membership.space
    target = Membership.objects.select_for_update().filter(space=space, user_id=user_id).first()
    if target is None:
        raise errors.NotFound("No such member.")
    leaving = target.pk == actor_membership.pk
    if not leaving and actor_membership.role not in (Role.OWNER, Role.ADMIN):
        raise errors.Forbidden("Only the workspace's owner and admins can remove members.")
    if target.role == Role.OWNER:
        raise errors.Conflict("The owner cannot be removed from their workspace.")
    if target.role == Role.ADMIN and actor_membership.role != Role.OWNER and not leaving:
        raise errors.Forbidden("Only the workspace's owner can remove an admin.")
    target.delete()


def scope_set(*, user, workspace: Space | None) -> None:
    """Store the user's active scope (None: personal)."""
    ActiveScope.objects.update_or_create(user=user, defaults={"workspace": workspace})
