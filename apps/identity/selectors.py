"""Reads of the Identity Kernel, narrowed to the active space.

In the personal scope the effective kernel is the personal layer, and its injection block is the
one cached on that layer's row (rendered when the layer was written, never on reads).

In a workspace scope it is ``layers.kernel_merge(personal, workspace)``: the caller's own
personal layer under the workspace layer, so two members of one workspace see different
effective kernels and never each other's personal layer. Its block is cached per member and
workspace (``EffectiveBlock``) under ``services.effective_block_key`` (each layer's id and
version); a read renders it only when either layer has moved or been replaced since. The version
(ETag, If-Match) of a workspace scope is the workspace layer's, the one a PUT there writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from apps.identity import renderer, services
from apps.identity.layers import empty_kernel, kernel_merge, kernel_shape
from apps.identity.models import EffectiveBlock, Kernel, KernelRevision
from apps.scopes.models import Space
from synchronex.api import stamps
from synchronex.api.rows import Rows, fetch_all

# The kernel reads run on every identity read and kernel export, so they are written out (see
# synchronex/api/rows.py): the space's own layer, and both layers of a workspace scope.
_KERNEL = Rows(Kernel, "k")
_KERNEL_OF_SQL = f"SELECT {_KERNEL.columns} FROM {Kernel._meta.db_table} k WHERE k.space_id = %s"
_KERNEL_LAYERS_SQL = (
    f"SELECT {_KERNEL.columns} FROM {Kernel._meta.db_table} k WHERE k.space_id = %(space)s OR k.space_id = "
    f"(SELECT p.id FROM {Space._meta.db_table} p WHERE p.owner_id = %(user)s AND p.kind = 'personal')"
)
_BLOCK = Rows(EffectiveBlock, "b")
_BLOCK_SQL = f"SELECT {_BLOCK.columns} FROM {EffectiveBlock._meta.db_table} b WHERE b.space_id = %s AND b.user_id = %s"


@dataclass(frozen=True)
class EffectiveKernel:
    """The kernel a request sees, with its block and the version of the active layer."""

    sections: dict
    injection_block: str
    injection_tokens: int
    truncated: bool
    version: int
    updated_at: datetime | None

    def as_dict(self, *, scope: str) -> dict:
        """The API's representation (``KernelSerializer``'s shape; ``updated_at`` as a datetime)."""
        return {
            **kernel_shape(self.sections),
            "injection_block": self.injection_block,
            "injection_tokens": self.injection_tokens,
            "truncated": self.truncated,
            "version": self.version,
            "updated_at": self.updated_at,
            "scope": scope,
        }


def kernel_of(*, space: Space) -> Kernel | None:
    """The space's own layer, or None before its first write."""
    return _KERNEL.one(_KERNEL_OF_SQL, [space.pk])


def kernel_from_layer(*, kernel: Kernel | None) -> EffectiveKernel:
    """The effective kernel of a personal scope: its layer and the block cached on it."""
    if kernel is None:
        # No write yet: an empty kernel at version 0 (a first PUT may send If-Match: "0").
        return EffectiveKernel(empty_kernel(), "", 0, False, 0, None)
    if kernel.block_key != services.block_key(personal_version=kernel.version):
        # Rendered by another renderer version (or restored from an export): render it again,
        # once, and keep it unless a write has moved the layer meanwhile.
        services.kernel_render(kernel=kernel)
        Kernel.objects.filter(pk=kernel.pk, version=kernel.version).update(
            injection_block=kernel.injection_block,
            injection_tokens=kernel.injection_tokens,
            truncated=kernel.truncated,
            block_key=kernel.block_key,
        )
    return EffectiveKernel(
        sections=kernel.sections(),
        injection_block=kernel.injection_block,
        injection_tokens=kernel.injection_tokens,
        truncated=kernel.truncated,
        version=kernel.version,
        updated_at=kernel.updated_at,
    )


def kernel_layers(*, space: Space, user) -> tuple[Kernel | None, Kernel | None]:
    """``(personal, workspace)``: ``user``'s personal layer and the workspace's, in one query.

    Either is None before its first write. Only the caller's own personal layer is ever read.
    """
    personal = workspace = None
    for values in fetch_all(_KERNEL_LAYERS_SQL, {"space": space.pk, "user": user.pk}):
        row = _KERNEL.build(values)
        if row.space_id == space.pk:
            workspace = row
        else:
            personal = row
    return personal, workspace


def kernel_merged_sections(*, personal: Kernel | None, workspace: Kernel | None) -> dict:
    """The effective kernel's sections of a workspace scope (SPEC §3)."""
    return kernel_merge(
        personal.sections() if personal is not None else None,
        workspace.sections() if workspace is not None else None,
    )


def _workspace_effective(*, space: Space, user, personal: Kernel | None, workspace: Kernel | None) -> EffectiveKernel:
    sections = kernel_merged_sections(personal=personal, workspace=workspace)
    key = services.effective_block_key(personal=personal, workspace=workspace)
    cached = _BLOCK.one(_BLOCK_SQL, [space.pk, user.pk])
    if cached is not None and cached.block_key == key:
        text, tokens, truncated = cached.injection_block, cached.injection_tokens, cached.truncated
    else:
        block = renderer.render_block(sections)
        services.effective_block_store(space=space, user=user, key=key, block=block)
        text, tokens, truncated = block.text, block.tokens, block.truncated
    stamps = [layer.updated_at for layer in (personal, workspace) if layer is not None and layer.updated_at]
    return EffectiveKernel(
        sections=sections,
        injection_block=text,
        injection_tokens=tokens,
        truncated=truncated,
        version=workspace.version if workspace is not None else 0,
        updated_at=max(stamps, default=None),
    )


def kernel_effective(*, space: Space, user=None, written: Kernel | None = None) -> EffectiveKernel:
    """The effective kernel of the active space, as ``user`` sees it.

    Personal scope: the space's own layer (``user`` is not needed). Workspace scope: ``user``'s
    personal layer under the workspace layer; ``version`` is the workspace layer's and
    ``updated_at`` is when either layer last changed. ``written`` is the active layer as a write
    just left it, so a PUT answers with its own version even if another write followed.
    """
    if space.kind == Space.Kind.PERSONAL:
        return kernel_from_layer(kernel=written if written is not None else kernel_of(space=space))
    if user is None:
        raise TypeError("A workspace scope's effective kernel depends on the member: pass user.")
    if written is None:
        personal, workspace = kernel_layers(space=space, user=user)
    else:
        personal = Kernel.objects.filter(space__owner_id=user.pk, space__kind=Space.Kind.PERSONAL).first()
        workspace = written
    return _workspace_effective(space=space, user=user, personal=personal, workspace=workspace)


def kernel_own(*, space: Space, written: Kernel | None = None) -> EffectiveKernel:
    """The active space's own layer alone, with the block, version and ``updated_at`` of that
    layer (``GET``/``PUT /memory/identity?layer=own``). In a workspace scope it is the workspace
    layer: what a PUT there replaces section by section, so the base a read-modify-write must start
    from (the effective kernel would carry the caller's personal layer into it). It never holds a
    member's personal layer. In the personal scope it is the effective kernel. ``written``: the
    layer as a write just left it, as for ``kernel_effective``."""
    return kernel_from_layer(kernel=written if written is not None else kernel_of(space=space))


def kernel_for_request(request, space: Space) -> EffectiveKernel:
    """``kernel_effective`` for an API request's account, remembered between its requests while
    the account's context stamp holds (``synchronex/api/stamps.py``; every kernel write stamps
    the layer's owner and members). The value is shared: callers must not change it."""
    return stamps.remembered(request, ("kernel", space.pk), lambda: kernel_effective(space=space, user=request.user))


def kernel_revisions(*, space: Space):
    """The revisions of the space's own layer, newest first (history is per layer)."""
    return KernelRevision.objects.filter(kernel__space=space).order_by("-version")
