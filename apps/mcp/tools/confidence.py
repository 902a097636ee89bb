"""check_memory_confidence: the tool around ``apps.mcp.confidence.assess``."""

from __future__ import annotations

from collections.abc import Callable

from apps.identity.export import kernel_redacted
from apps.identity.selectors import kernel_effective
from apps.products.selectors import product_get
from synchronex.api.serializers import iso_utc

from ..confidence import MemorySnapshot, ProductFacts, SupersededDecision, assess
from ..selectors import decisions_superseded
from .memory import product_name_argument
from .registry import ToolContext, tool
from .schemas import CONTEXT_BLOCK_MAX, PRODUCT_NAME, text


def _product_facts(product, scrub: Callable[[str], str]) -> ProductFacts:
    return ProductFacts(
        name=scrub(product.name),
        status=product.status,
        what_works=[scrub(item) for item in product.what_works],
        what_is_blocked=[scrub(item) for item in product.what_is_blocked],
        open_questions=[scrub(item) for item in product.open_questions],
        next_session_starts_here=scrub(product.next_session_starts_here),
        last_session_summary=scrub(product.last_session_summary),
        version=product.version,
        updated_at=product.updated_at,
    )


@tool(
    "check_memory_confidence",
    title="Check a context block against memory",
    description=(
        "Compare a context block you hold (an injection block, a kernel export, your own notes) with current "
        "memory. Reports stale facts (lines memory changed or no longer has, a kernel or product changed after "
        "the block's generated/updated date, a different kernel version), facts memory has that the block lacks, "
        "constraints the block omits or contradicts, and decisions in the block that were superseded since, "
        "with a confidence score. With product_name, that product's state is checked too. Decisions are "
        "checked when the token may read them. The work is bounded: what a very large block left unchecked "
        "is counted in not_compared."
    ),
    scope="memory:read",
    read_only=True,
    idempotent=True,
    schema={
        "properties": {
            "context_block": text(CONTEXT_BLOCK_MAX, "The text to check."),
            "product_name": PRODUCT_NAME,
        },
        "required": ["context_block"],
    },
)
def check_memory_confidence(context: ToolContext, args: dict) -> dict:
    active = context.active
    # Memory as the model was given it (redacted, as every tool answers it): a block from
    # get_identity_kernel is then compared with what it was made from, not reported as stale.
    scrub = context.scrub
    kernel = kernel_redacted(kernel_effective(space=active.space, user=context.user), scrub, sections=True)
    constraints = (kernel.sections.get("constraints") or {}) if kernel.sections else {}
    product = product_get(space=active.space, name=product_name_argument(args)) if "product_name" in args else None
    superseded = None
    if context.allows("decisions:read"):
        superseded = [
            SupersededDecision(
                id=str(row.id),
                decision=scrub(row.decision),
                product_name=row.product.name,
                replaced_by_id=str(row.superseded_by.id),
                replaced_by=scrub(row.superseded_by.decision),
            )
            for row in decisions_superseded(space=active.space, product=product)
        ]
    memory = MemorySnapshot(
        kernel_block=kernel.injection_block,
        never=list(constraints.get("never") or []),
        always=list(constraints.get("always") or []),
        kernel_version=kernel.version,
        kernel_updated_at=kernel.updated_at,
        product=_product_facts(product, scrub) if product is not None else None,
        superseded=superseded,
    )
    report = assess(args["context_block"], memory)
    report["kernel"] = {"version": kernel.version, "updated_at": iso_utc(kernel.updated_at)}
    report["product"] = (
        None
        if product is None
        else {"name": product.name, "version": product.version, "updated_at": iso_utc(product.updated_at)}
    )
    report["scope"] = active.scope
    return report
