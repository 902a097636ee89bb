"""The kernel export (SPEC §9): ready-to-inject context for an AI session, within a token budget.

Injection order — and priority, highest first — is: the kernel block, the product state, the
relevant decisions. The export never exceeds ``max_tokens`` o200k_base tokens, counted with
``count_tokens`` on the final content. Content is kept from the highest priority down while it
fits, whole pieces only:

1. the kernel block as cached on the kernel (without Markdown marks in the text format); only
   when it alone exceeds the budget is it re-rendered, by the renderer's own whole-line priority
   rules, under the budget;
2. the product's status line — if even that does not fit, the product and all decisions go;
3. the next-session handoff, then the last session summary (each left out alone if too long);
4. the list items: what is blocked, what works, open questions — each list in order up to its
   first item that does not fit;
5. the decisions by rank, up to the first that does not fit, and only when the whole product
   state fitted.

So the lowest-ranked decisions go first, then product-state list items (last items first).
The space's BYOK keys, wherever a user pasted one, are replaced by ``[REDACTED:api_key]`` (the
MIF export's ``Scrubber``) before any token is counted, so a redacted export still fits.
Decisions are ranked by ``decision_search`` on the query (all words), topped up by a search on
any of its words, so a long task text still finds what it mentions; with a product, decisions of
other products that affect it are included (propagation).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from apps.decisions.selectors import decision_render_text, decision_search
from apps.identity import renderer
from apps.identity.selectors import EffectiveKernel
from apps.memory.mif.export import Scrubber, space_secrets
from apps.products.selectors import product_find
from apps.scopes.models import Space
from synchronex.api import errors
from synchronex.api.tokens import count_tokens

FORMATS = ("markdown", "json", "text")
# A short query is searched as written first; a longer one only by its words.
SHORT_QUERY_WORDS = 12
MAX_QUERY_WORDS = 64
_WORD = re.compile(r"\w+", re.UNICODE)
_WEBSEARCH_OPERATORS = {"or", "and", "not"}

# Product lists and texts with their headings; ``PRODUCT_KEEP_ORDER`` ranks what survives a
# tight budget (last dropped first), ``DISPLAY_ORDER`` is the order they are printed in.
PRODUCT_LISTS = (
    ("what_works", "What works"),
    ("what_is_blocked", "What is blocked"),
    ("open_questions", "Open questions"),
)
PRODUCT_TEXTS = (
    ("next_session_starts_here", "Next session starts here"),
    ("last_session_summary", "Last session summary"),
)
PRODUCT_KEEP_ORDER = (
    "status",
    "next_session_starts_here",
    "last_session_summary",
    "what_is_blocked",
    "what_works",
    "open_questions",
)
DISPLAY_ORDER = (
    "status",
    "what_works",
    "what_is_blocked",
    "open_questions",
    "next_session_starts_here",
    "last_session_summary",
)
GROUP_TITLES = dict(PRODUCT_LISTS + PRODUCT_TEXTS)


@dataclass(frozen=True)
class ExportSection:
    kind: str  # kernel | product | decisions
    title: str
    content: str
    tokens: int


@dataclass
class KernelExport:
    format: str
    scope: str
    sections: list[ExportSection]
    content: str
    generated_at: datetime
    truncated: bool
    tokens: dict = field(default_factory=dict)


@dataclass(frozen=True)
class _Unit:
    """One droppable piece of content: a whole list item, text, decision or the kernel block."""

    kind: str
    group: str  # kernel | status | a product field | decisions
    text: str


def _heading(title: str, fmt: str, level: int) -> str:
    if fmt == "text":
        return f"{title}\n{'=' * len(title)}" if level == 1 else f"{title}:"
    return f"{'#' * level} {title}"


def _kernel_text(block: str, fmt: str) -> str:
    return renderer.block_as_text(block) if fmt == "text" else block


def _section_body(kind: str, units: list[_Unit], fmt: str) -> str:
    if kind != "product":
        return "\n\n".join(unit.text for unit in units)
    blocks: list[str] = []
    for group in DISPLAY_ORDER:
        texts = [unit.text for unit in units if unit.group == group]
        if not texts:
            continue
        if group == "status":
            blocks.append(texts[0])
        else:
            blocks.append(_heading(GROUP_TITLES[group], fmt, 2) + "\n" + "\n".join(texts))
    return "\n\n".join(blocks)


def _assemble(units: list[_Unit], titles: dict[str, str], fmt: str) -> tuple[str, list[tuple[str, str, str]]]:
    """The content and each present section as (kind, title, body), in injection order."""
    sections = []
    for kind in ("kernel", "product", "decisions"):
        kept = [unit for unit in units if unit.kind == kind]
        if kept:
            sections.append((kind, titles[kind], _section_body(kind, kept, fmt)))
    content = "\n\n".join(_heading(title, fmt, 1) + "\n\n" + body for _, title, body in sections)
    return content, sections


def _product_units(product, scrub: Callable[[str], str]) -> list[_Unit]:
    by_group: dict[str, list[_Unit]] = {}
    status = f"Status: {product.status}"
    if product.updated_at:
        status += f" (updated {product.updated_at:%Y-%m-%d})"
    by_group["status"] = [_Unit("product", "status", status)]
    for name, _ in PRODUCT_TEXTS:
        value = (getattr(product, name) or "").strip()
        if value:
            by_group[name] = [_Unit("product", name, scrub(value))]
    for name, _ in PRODUCT_LISTS:
        by_group[name] = [_Unit("product", name, scrub(f"- {item}")) for item in getattr(product, name) or [] if item]
    return [unit for group in PRODUCT_KEEP_ORDER for unit in by_group.get(group, [])]


def _query_words(text: str) -> list[str]:
    seen: dict[str, None] = {}
    for word in _WORD.findall(text.lower()):
        if word not in _WEBSEARCH_OPERATORS and word not in seen:
            seen[word] = None
    return list(seen)[:MAX_QUERY_WORDS]


def relevant_decisions(*, space: Space, query: str | None, product: str | None, limit: int, product_state=None) -> list:
    """The ``limit`` best decisions for the query (and product, with propagation), best first.
    ``product_state``: the product ``product`` names, when the caller already found it."""
    if limit == 0:
        return []
    words = _query_words(query or "")
    searches: list[str | None] = []
    if not query or not words:
        searches.append(None)
    else:
        if len(words) <= SHORT_QUERY_WORDS:
            searches.append(query)
        if len(words) > 1 or not searches:
            searches.append(" or ".join(words))
    found: list = []
    for q in searches:
        result = decision_search(
            space=space, q=q, product=product, product_state=product_state, include_related=True, limit=limit
        )
        known = {decision.id for decision in found}
        found += [hit.decision for hit in result.hits if hit.decision.id not in known]
        if len(found) >= limit:
            break
    return found[:limit]


def _piece(unit: _Unit, kept: list[_Unit], titles: dict[str, str], fmt: str) -> str:
    """What adding ``unit`` adds to the content: its text and any heading it opens."""
    kinds = {u.kind for u in kept}
    groups = {u.group for u in kept}
    piece = "" if unit.kind in kinds else f"\n\n{_heading(titles[unit.kind], fmt, 1)}"
    if unit.kind == "product" and unit.group != "status":
        if unit.group in groups:
            return f"{piece}\n{unit.text}"
        return f"{piece}\n\n{_heading(GROUP_TITLES[unit.group], fmt, 2)}\n{unit.text}"
    return f"{piece}\n\n{unit.text}"


def _select(
    units: list[_Unit], kernel: EffectiveKernel, titles: dict, fmt: str, max_tokens: int, scrub: Callable[[str], str]
) -> list[_Unit]:
    """The units that fit ``max_tokens``, honouring the drop order of the module docstring.

    Walks the units from the highest priority down, keeping each that still fits: the kernel
    (shortened by whole lines if it alone is too long), the status line (without it the product
    and the decisions go), the texts (one that does not fit is skipped), each list up to its
    first item that does not fit, and — only when the whole product state fitted — decisions up
    to the first that does not. Costs are summed per piece; the exact count of the assembled
    content is checked at the end and the lowest-priority units are dropped until it fits.
    """
    kept: list[_Unit] = []
    used = 0
    product_complete = True
    closed: set[str] = set()
    for unit in units:
        if unit.kind == "kernel":
            kept = [unit] if count_tokens(_assemble([unit], titles, fmt)[0]) <= max_tokens else []
            kept = kept or _shrunk_kernel(kernel, titles, fmt, max_tokens, scrub)
            used = count_tokens(_assemble(kept, titles, fmt)[0])
            continue
        if unit.group in closed or (unit.kind == "decisions" and not product_complete):
            continue
        cost = count_tokens(_piece(unit, kept, titles, fmt))
        if used + cost <= max_tokens:
            kept.append(unit)
            used += cost
            continue
        if unit.kind == "decisions":
            break
        product_complete = False
        if unit.group == "status":
            closed.update(PRODUCT_KEEP_ORDER)
        elif unit.group in GROUP_TITLES and unit.group not in dict(PRODUCT_TEXTS):
            closed.add(unit.group)  # a list keeps the items before the first that does not fit
    while kept and count_tokens(_assemble(kept, titles, fmt)[0]) > max_tokens:
        kept.pop()
    return kept


def _shrunk_kernel(
    kernel: EffectiveKernel, titles: dict[str, str], fmt: str, max_tokens: int, scrub: Callable[[str], str]
) -> list[_Unit]:
    """The kernel re-rendered under what the budget leaves for it (whole lines, by priority)."""
    budget = max_tokens
    while budget > 0:
        block = renderer.render_block(kernel.sections, max_tokens=budget).text
        if not block:
            return []
        unit = [_Unit("kernel", "kernel", _kernel_text(scrub(block), fmt))]
        over = count_tokens(_assemble(unit, titles, fmt)[0]) - max_tokens
        if over <= 0:
            return unit
        budget -= over
    return []


def _as_is(text: str) -> str:
    return text


def kernel_export_build(
    *,
    space: Space,
    scope: str,
    kernel: EffectiveKernel,
    fmt: str = "markdown",
    product: str | None = None,
    query: str | None = None,
    max_tokens: int = 1500,
    decisions: int = 5,
    include_decisions: bool = True,
    user=None,
) -> KernelExport:
    """Assemble the export of ``space`` (options already validated). Unknown product → NOT_FOUND.

    ``user``: the caller, whose personal BYOK keys are redacted too in a workspace scope."""
    if fmt not in FORMATS:
        raise errors.ValidationFailed.for_fields({"format": f"Use one of: {', '.join(FORMATS)}."})
    titles = {"kernel": "Identity kernel", "product": "Product", "decisions": "Relevant decisions"}
    # One query for the keys; the Scrubber is built only when there are some (most spaces have
    # none, and this export is a hot path). In a workspace the effective kernel carries the
    # caller's personal layer, so their personal keys are redacted too.
    workspace = space.kind != Space.Kind.PERSONAL
    secrets = space_secrets(space, also_personal_of=user if workspace else None)
    scrub = Scrubber(secrets) if secrets else _as_is
    units: list[_Unit] = []
    if kernel.injection_block:
        units.append(_Unit("kernel", "kernel", _kernel_text(scrub(kernel.injection_block), fmt)))
    state = None
    if product is not None:
        state = product_find(space=space, name=product)
        if state is None:
            raise errors.NotFound(f"No product named {product!r} in this scope.")
        titles["product"] = scrub(f"Product: {state.name}")
        units += _product_units(state, scrub)
    if include_decisions:
        found = relevant_decisions(space=space, query=query, product=product, limit=decisions, product_state=state)
        units += [_Unit("decisions", "decisions", scrub(decision_render_text(d))) for d in found]

    kept = _select(units, kernel, titles, fmt, max_tokens, scrub)
    content, present = _assemble(kept, titles, fmt)
    sections = []
    for kind, title, body in present:
        alone = _heading(title, fmt, 1) + "\n\n" + body
        sections.append(ExportSection(kind=kind, title=title, content=body, tokens=count_tokens(alone)))
    per_kind = {section.kind: section.tokens for section in sections}
    total = count_tokens(content)
    return KernelExport(
        format=fmt,
        scope=scope,
        sections=sections,
        content=content,
        generated_at=timezone.now(),
        truncated=kept != units,
        tokens={
            "total": total,
            "kernel": per_kind.get("kernel", 0),
            "product": per_kind.get("product", 0),
            "decisions": per_kind.get("decisions", 0),
        },
    )
