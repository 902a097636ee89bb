"""Writes to the Identity Kernel: the one atomic update path, with versions and revisions."""

from __future__ import annotations

import hashlib
from typing import NoReturn

from django.db import transaction
from django.utils import timezone

from apps.identity import renderer
from apps.identity.layers import SECTIONS
from apps.identity.models import EffectiveBlock, Kernel, KernelRevision
from apps.products.services import products_kernel_descriptions_record
from apps.scopes.models import Space
from synchronex.api import errors
from synchronex.api.preconditions import IfMatch, IfNoneMatch, etag_for
from synchronex.db.locks import hold_space_lock


def _normalise(section: str, value):
    """The stored form of a validated section: empty values dropped; nothing set → None."""
    if value is None:
        return None
    if section == "products":
        items = [{k: v for k, v in product.items() if v not in (None, "")} for product in value]
        return items or None
    cleaned = {}
    for key, item in value.items():
        if isinstance(item, list):
            item = list(dict.fromkeys(item))  # duplicates removed, first occurrence kept
        if item not in (None, "", [], {}):
            cleaned[key] = item
    return cleaned or None


def sections_normalised(sections: dict) -> dict:
    """The four sections as ``kernel_update`` would store validated ``sections`` into an empty
    layer (an absent one as None): what a MIF import compares the kernel in place with."""
    return {name: _normalise(name, sections.get(name)) for name in SECTIONS}


def _locked_kernel(space: Space) -> Kernel:
    """The space's kernel row, created if missing, locked FOR UPDATE until the transaction ends.

    Creation is race-safe: ``INSERT … ON CONFLICT DO NOTHING`` waits for a concurrent inserter
    to commit, and the locking read then sees (and waits for) the winner's row.
    """
    kernel = Kernel.objects.select_for_update().filter(space=space).first()
    if kernel is None:
        Kernel.objects.bulk_create([Kernel(space=space)], ignore_conflicts=True)
        kernel = Kernel.objects.select_for_update().get(space=space)
    return kernel


def block_key(*, personal_version: int) -> str:
    """What a layer's own cached block was rendered from: the renderer and the layer's version.

    That block lives on the layer's row, so a layer deleted and written anew (a new row) never
    meets the old block; its version alone tells a stale rendering.
    """
    return f"r{renderer.RENDERER_VERSION}:p{personal_version}"


def effective_block_key(*, personal: Kernel | None, workspace: Kernel | None) -> str:
    """What a workspace scope's cached effective block (``EffectiveBlock``) was rendered from.

    It depends on the member's personal layer and the workspace layer, so it is keyed by the
    version of both, and is stale as soon as either moves. The cache row belongs to the space
    and the member, not to the layers: a layer deleted and written anew starts again at version 1,
    so each layer's id is part of the key too (a short digest, to fit the column). The key is
    made from the layers already read, without a query.
    """
    ids = f"{personal.pk if personal is not None else '-'}:{workspace.pk if workspace is not None else '-'}"
    layers = hashlib.blake2b(ids.encode(), digest_size=8).hexdigest()
    personal_version = personal.version if personal is not None else 0
    workspace_version = workspace.version if workspace is not None else 0
    return f"{block_key(personal_version=personal_version)}:w{workspace_version}:{layers}"


def kernel_render(*, kernel: Kernel) -> Kernel:
    """Refresh the cached block of a layer from its sections (the caller saves)."""
    block = renderer.render_block(kernel.sections())
    kernel.injection_block = block.text
    kernel.injection_tokens = block.tokens
    kernel.truncated = block.truncated
    kernel.block_key = block_key(personal_version=kernel.version)
    return kernel


def effective_block_store(*, space: Space, user, key: str, block: renderer.RenderedBlock) -> None:
    """Cache a member's effective block of a workspace (one row per member, replaced in place).

    Race-safe without locks: concurrent first renders upsert the same row. A slower writer may
    leave an older rendering behind; its ``block_key`` then no longer matches the layers, so the
    next read renders again instead of serving it.
    """
    EffectiveBlock.objects.bulk_create(
        [
            EffectiveBlock(
                space=space,
                user=user,
                block_key=key,
                injection_block=block.text,
                injection_tokens=block.tokens,
                truncated=block.truncated,
            )
        ],
        update_conflicts=True,
        unique_fields=["space", "user"],
        update_fields=["block_key", "injection_block", "injection_tokens", "truncated", "rendered_at"],
    )


def _refuse(kernel: Kernel, reason: str) -> NoReturn:
    raise errors.PreconditionFailed(
        f"The kernel is at version {kernel.version}; {reason}.",
        details={"current_version": kernel.version},
        headers={"ETag": etag_for(kernel.version)},
    )


@transaction.atomic
def kernel_update(
    *,
    space: Space,
    changes: dict,
    actor: str,
    actor_user=None,
    if_match: IfMatch | None = None,
    if_none_match: IfNoneMatch | None = None,
    record_descriptions: bool = False,
) -> Kernel:
    """Apply validated section changes to the space's own layer and return the saved kernel.

    Present sections replace the stored ones, ``None`` clears one. The row is locked for the
    whole update, so concurrent writers are serialised: with ``If-Match`` the loser gets
    PRECONDITION_FAILED; without it the last writer wins. ``if_none_match`` refuses a write over a
    version it names (``*``: any), after ``if_match``; a layer never written (version 0) matches
    none, as a missing product does, so with ``*`` only the first write goes through. Every write
    bumps the version, re-renders the cached block and stores a revision.

    ``record_descriptions`` (the owner's writes): a ``products`` change also records each entry's
    summary and URL on the space's product state, and clears them where it removes an entry
    (``products_kernel_descriptions_record``), so consolidation brings back a product it dropped
    with them, and one the owner removed without. Consolidation's own write leaves them: the
    products it drops keep theirs. It first takes the space's consolidation lock, before the
    kernel row: a run locks the product rows, then the kernel, so a write holding the kernel
    while waiting for a product row would close a lock cycle with it.
    """
    unknown = set(changes) - set(SECTIONS)
    if not changes or unknown:
        raise errors.ValidationFailed("Send at least one known section.")
    record = record_descriptions and "products" in changes
    if record:
        # Imported here: memory builds on this app.
        from apps.memory.consolidation_steps import LOCK_CLASS as CONSOLIDATION_LOCK_CLASS

        hold_space_lock(CONSOLIDATION_LOCK_CLASS, space.pk)
    kernel = _locked_kernel(space)
    if if_match is not None and not if_match.matches(kernel.version):
        _refuse(kernel, "read it again and retry")
    if if_none_match is not None and kernel.version > 0 and if_none_match.matches(kernel.version):
        _refuse(kernel, "your If-None-Match refuses to write over it")
    previous = kernel.products or []
    for section, value in changes.items():
        setattr(kernel, section, _normalise(section, value))
    if record:
        products_kernel_descriptions_record(space=space, entries=kernel.products or [], previous=previous)
    kernel.version += 1
    kernel.updated_at = timezone.now()
    kernel_render(kernel=kernel)
    kernel.save()
    KernelRevision.objects.create(
        kernel=kernel, version=kernel.version, snapshot=kernel.sections(), actor=actor[:200], actor_user=actor_user
    )
    return kernel
