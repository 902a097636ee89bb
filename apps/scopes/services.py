"""Writes for spaces, workspaces, memberships and the stored active scope."""

from __future__ import annotations

import uuid

from django.db import IntegrityError, transaction

from apps.accounts.models import User
from apps.scopes.models import ActiveScope, Membership, Role, Space
from synchronex.api import errors
from synchronex.db.deadlocks import retry_deadlocks
from synchronex.db.locks import hold_space_lock

ASSIGNABLE_ROLES = (Role.ADMIN, Role.MEMBER, Role.VIEWER)
MEMBERS_LOCK_CLASS = 0x53584D4D  # advisory-lock namespace of member changes ("SXMM")


def space_ensure_personal(*, user) -> Space:
    """Return the user's personal space, creating it on first need (race-safe)."""
    space = Space.objects.filter(owner=user, kind=Space.Kind.PERSONAL).first()
    if space is not None:
        return space
    try:
        with transaction.atomic():
            return Space.objects.create(owner=user, kind=Space.Kind.PERSONAL, name=_personal_name(user))
    except IntegrityError:
        return Space.objects.get(owner=user, kind=Space.Kind.PERSONAL)


def _personal_name(user) -> str:
    # Named after the account, cut to the column: an address may have 254 characters, a name 200,
    # and a name too long failed every request of an account made without its space.
    return user.email[: Space._meta.get_field("name").max_length]


def space_rename_personal(*, user) -> Space | None:
    """Name the user's personal space after their address again, once it changed (the admin's user
    page): the old address, which a rectification removes, stayed in the space list, the memory
    overview and admin searches. None when the user has no personal space yet."""
    space = Space.objects.filter(owner=user, kind=Space.Kind.PERSONAL).first()
    if space is not None and space.name != _personal_name(user):
        space.name = _personal_name(user)
        space.save(update_fields=["name"])
    return space


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


def _lock_memberships(actor_membership: Membership, user_id) -> tuple[Membership, Membership | None]:
    """The acting member's membership and ``user_id``'s, read afresh and locked to the end of the
    caller's transaction: the actor's role is checked on this row, not on the one the view read
    before (a manager removed or demoted meanwhile no longer manages). An actor no longer in the
    workspace is NOT_FOUND, as for anyone else not in it.

    Member changes in one workspace take turns on an advisory lock first. Row locks alone, even
    taken in user id order, deadlock: a row the lock statement did not see yet (a member just
    added by a simultaneous request) is locked after the actor's row, out of order. Under the
    turn each change reads the memberships the previous one committed."""
    hold_space_lock(MEMBERS_LOCK_CLASS, actor_membership.space_id)
    rows = (
        Membership.objects.select_for_update(of=("self",))
        .select_related("space__owner")
        .filter(space_id=actor_membership.space_id, user_id__in={actor_membership.user_id, user_id})
        .order_by("user_id")
    )
    locked = {m.user_id: m for m in rows}
    actor = locked.get(actor_membership.user_id)
    if actor is None:
        raise errors.NoSuchWorkspace()
    return actor, locked.get(user_id)


def _require_member_management(actor_membership: Membership) -> None:
    """Owners and admins manage members, while the workspace's owner is on the team plan or above.

    A workspace whose owner left that plan keeps working for reading, writing memory, removing
    members and leaving (nobody's data is locked away); only adding members and changing roles
    answer TIER_REQUIRED until the owner is back on the team plan.
    """
    if actor_membership.role not in (Role.OWNER, Role.ADMIN):
        raise errors.Forbidden("Only the workspace's owner and admins can manage members.")
    owner = actor_membership.space.owner
    if not owner.has_tier("team"):
        raise errors.TierRequired(
            "Adding members and changing roles needs the workspace's owner on the team plan or above.",
            details={"required_tier": "team", "current_tier": owner.tier},
        )


@transaction.atomic
def member_put(*, actor_membership: Membership, user, role: str) -> tuple[Membership, bool]:
    """Add a user to the workspace or change their role; returns (membership, created).

    Owners and admins manage members; nobody changes the owner's role here, and only the owner
    may make someone an admin or change an admin's role (an admin may step down themselves, as
    they may leave). Asking for the role a member already has changes nothing and is answered as a
    change would be, whoever of those who manage members asks. Simultaneous adds of one user are
    race-safe: one adds, the others change the role as a second add would. ``actor_membership``
    says who acts where; the role is checked on that membership as read again here
    (``_lock_memberships``).
    """
    actor_membership, membership = _lock_memberships(actor_membership, user.pk)
    _require_member_management(actor_membership)
    if membership is not None and membership.role == role:
        return membership, False  # already so (a retry, a repeat): nothing is made or changed
    if role == Role.ADMIN and actor_membership.role != Role.OWNER:
        raise errors.Forbidden("Only the workspace's owner can make someone an admin.")
    if membership is None:
        membership, created = Membership.objects.select_for_update().get_or_create(
            space=actor_membership.space, user=user, defaults={"role": role}
        )
        if created:
            return membership, True
    if membership.role == Role.OWNER:
        raise errors.Conflict("The owner's role cannot be changed.")
    if membership.role == Role.ADMIN and actor_membership.role != Role.OWNER and membership.pk != actor_membership.pk:
        raise errors.Forbidden("Only the workspace's owner can change an admin's role.")
    membership.role = role
    membership.save(update_fields=["role"])
    return membership, False


def member_put_by_email(*, actor_membership: Membership, email: str, role: str) -> tuple[Membership, bool]:
    """``member_put`` for the account with this email (any case; its NFC form, so a decomposed
    spelling finds the account typed composed, as it was created: ``User.objects.by_email``). The
    caller's right to manage members is checked first, so only those who may add members learn
    whether an email has an account (NOT_FOUND)."""
    _require_member_management(actor_membership)
    user = User.objects.by_email(email).filter(is_active=True).first()
    if user is None:
        raise errors.NotFound("No account has that email address.")
    return member_put(actor_membership=actor_membership, user=user, role=role)


@transaction.atomic
def member_remove(*, actor_membership: Membership, user_id: uuid.UUID | None) -> None:
    """Remove a member (owners and admins may remove others; anyone may leave). The actor's role
    is checked as read again here (``_lock_memberships``). ``user_id`` None (a path id that is
    none) is no member: NOT_FOUND, as an unknown one."""
    actor_membership, target = _lock_memberships(actor_membership, user_id)
    if target is None:
        raise errors.NotFound("No such member.")
    leaving = target.pk == actor_membership.pk
    if not leaving and actor_membership.role not in (Role.OWNER, Role.ADMIN):
        raise errors.Forbidden("Only the workspace's owner and admins can remove members.")
    if target.role == Role.OWNER:
        raise errors.Conflict("The owner cannot be removed from their workspace.")
    if target.role == Role.ADMIN and actor_membership.role != Role.OWNER and not leaving:
        raise errors.Forbidden("Only the workspace's owner can remove an admin.")
    # Imported here: identity builds on this app. The member's cached effective block holds their
    # personal layer rendered: it goes with the membership, not with the workspace or the user.
    from apps.identity.models import EffectiveBlock

    EffectiveBlock.objects.filter(space_id=target.space_id, user_id=target.user_id).delete()
    target.delete()


def scope_set(*, user, workspace: Space | None) -> None:
    """Store the user's active scope (None: personal)."""
    ActiveScope.objects.update_or_create(user=user, defaults={"workspace": workspace})


def spaces_lock_for_delete(space_ids) -> None:
    """Before a delete that cascades into these spaces' memory, take the locks their writers take
    first, in their order, space by space in id order: the space's consolidation lock, then its
    product rows (by id, as consolidation locks them). The caller's transaction holds them.

    Django deletes a space's decisions before its product states; consolidation locks the product
    states, then the decisions it merges, and every decision writer locks its product's row first.
    A delete that met either closed a lock cycle and was PostgreSQL's deadlock victim. Holding
    these first, the delete waits for a running consolidation's steps 1–4, and decision writes
    wait for the delete (a consolidation that comes later finds its job gone with the space).
    """
    # Imported here: memory and products build on this app.
    from apps.memory.consolidation_steps import LOCK_CLASS as CONSOLIDATION_LOCK_CLASS
    from apps.products.models import ProductState

    for space_id in sorted(set(space_ids)):
        hold_space_lock(CONSOLIDATION_LOCK_CLASS, space_id)
        list(ProductState.objects.select_for_update().filter(space_id=space_id).order_by("id").values_list("pk"))


@retry_deadlocks
def spaces_delete(*, spaces) -> None:
    """Delete the ``spaces`` (a queryset) with all their memory, after ``spaces_lock_for_delete``.

    Run again when still a deadlock's victim (``retry_deadlocks``); inside a caller's transaction
    (the admin's delete page) the caller's own retry reruns the whole of it.
    """
    spaces_lock_for_delete(spaces.values_list("pk", flat=True))
    spaces.delete()
