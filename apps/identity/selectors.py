"""Reads of the Identity Kernel, narrowed to the active space.

The effective kernel of the personal scope is the personal layer, and its injection block is
the one cached on that layer's row (rendered when the layer was written, never on reads).
When workspace scopes arrive, ``kernel_effective`` merges the member's personal layer under the
workspace layer with ``layers.kernel_merge`` and reads the block from a cache keyed by
``services.block_key(personal_version=…, workspace_version=…)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from apps.identity.layers import empty_kernel
from apps.identity.models import Kernel, KernelRevision
from apps.scopes.models import Space


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
        return {
            **self.sections,
            "injection_block": self.injection_block,
            "injection_tokens": self.injection_tokens,
            "truncated": self.truncated,
            "version": self.version,
            "updated_at": self.updated_at,
            "scope": scope,
        }


def kernel_of(*, space: Space) -> Kernel | None:
    """The space's own layer, or None before its first write."""
    return Kernel.objects.filter(space=space).first()


def kernel_from_layer(*, kernel: Kernel | None) -> EffectiveKernel:
    """The effective kernel of a personal scope: its layer and the block cached on it."""
    if kernel is None:
        # No write yet: an empty kernel at version 0 (a first PUT may send If-Match: "0").
        return EffectiveKernel(empty_kernel(), "", 0, False, 0, None)
    return EffectiveKernel(
        sections=kernel.sections(),
        injection_block=kernel.injection_block,
        injection_tokens=kernel.injection_tokens,
        truncated=kernel.truncated,
        version=kernel.version,
        updated_at=kernel.updated_at,
    )


def kernel_effective(*, space: Space) -> EffectiveKernel:
    """The effective kernel of the active space (today always its own layer)."""
    return kernel_from_layer(kernel=kernel_of(space=space))


def kernel_revisions(*, space: Space):
    """The revisions of the space's own layer, newest first."""
    return KernelRevision.objects.filter(kernel__space=space).order_by("-version")
