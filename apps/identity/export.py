"""The kernel export (SPEC §9): ready-to-inject context for an AI session, within a token budget.

Injection order — and priority, highest first — is: the kernel block, the product state, the
relevant decisions. The export never exceeds ``max_tokens`` o200k_base tokens, counted with
``count_tokens`` on the final content. Content is kept from the highest priority down while it
fits, whole pieces only, in this order; the first piece that does not fit goes with everything
after it, so a larger budget keeps everything a smaller one kept:

1. the kernel block as cached on the kernel (in the text format, its lines without Markdown
   marks, built by the renderer: ``renderer.render_text``); only
   when it alone exceeds the budget is it re-rendered, by the renderer's own whole-line priority
   rules, under the budget — and then it is all the export holds;
2. the product's status line;
3. the next-session handoff, then the last session summary;
4. the list items: what is blocked, what works, open questions, each list in order;
5. the decisions by rank.

So the lowest-ranked decisions go first, then product-state list items (last items first), then
the product's texts and status, then lines of the kernel.
The space's BYOK keys, wherever a user pasted one, are replaced by ``[REDACTED:api_key]`` (the
MIF export's ``Scrubber``, built by ``reader_scrubber``) before any token is counted, so a
redacted export still fits. They are replaced in the stored values before those are rendered
(the kernel block from ``kernel_redacted``'s sections, product texts and items, a decision's
fields), since the renderers escape characters a key may hold, and in the rendered text again.
``kernel_redacted`` gives the kernel the same way to the other readers that hand it to an AI
(the MCP tools, the identity read's block).
Decisions are ranked by ``decision_search`` on the query (all words), topped up by a search on
any of its words, so a long task text still finds what it mentions; each search keeps the first
``MAX_EXCLUSION_CHARS`` of its exclusions (the search by words as ``decision_search``'s
``excluding``, once for all its words). With a product, decisions of other products that affect
it are included (propagation).

Headings and list markers are the export's own: a stored text or item (and a decision's render
text) prints through ``synchronex.rendering.value_lines``, so none of its lines can start as a
heading, a marker or a section of its own; further lines are an indented continuation.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from django.utils import timezone

from apps.decisions.selectors import decision_render_text, decision_search, decision_search_words
from apps.identity import renderer
from apps.identity.selectors import EffectiveKernel
from apps.memory.mif.export import kernel_sections_redacted, reader_scrubber
from apps.memory.search_query import exclusion_split
from apps.products.selectors import product_find
from apps.scopes.models import Space
from synchronex.api import errors
from synchronex.api.tokens import count_added_tokens, count_tokens, first_break, last_break
from synchronex.rendering import one_line, value_lines

FORMATS = ("markdown", "json", "text")
# A short query is searched as written first; a longer one only by its words.
SHORT_QUERY_WORDS = 12
MAX_QUERY_WORDS = 64
_WORD = re.compile(r"\w+", re.UNICODE)
_WEBSEARCH_OPERATORS = {"or", "and", "not"}
# The exclusions each search keeps: at most this many characters (a task of 20,000 characters
# holds 2,500 of them).
MAX_EXCLUSION_CHARS = 200

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


def _kernel_text(kernel: EffectiveKernel, fmt: str) -> str:
    """The cached block; in the text format the same lines built from the sections by the
    renderer (never by rewriting the Markdown, which would rewrite user text too). A block that
    kept every line needs no token counting for that."""
    if fmt != "text":
        return kernel.injection_block
    return renderer.render_text(kernel.sections, complete=not kernel.truncated)


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
    # Texts and items may hold several lines: ``value_lines`` keeps them from starting a line
    # that reads as a heading or marker (the export's structure is only its own). Each is redacted
    # before that escape too, which may fall inside a key ("12345678." starting a line).
    for name, _ in PRODUCT_TEXTS:
        value = (getattr(product, name) or "").strip()
        if value:
            by_group[name] = [_Unit("product", name, scrub(value_lines(scrub(value))))]
    for name, _ in PRODUCT_LISTS:
        items = getattr(product, name) or []
        by_group[name] = [_Unit("product", name, scrub(f"- {value_lines(scrub(item))}")) for item in items if item]
    return [unit for group in PRODUCT_KEEP_ORDER for unit in by_group.get(group, [])]


def _query_words(text: str) -> tuple[list[str], str, str, bool]:
    """The words of ``text`` a match may contain (its excluded terms left out), those
    exclusions, as written (the first ``MAX_EXCLUSION_CHARS``), ``text`` with only those
    exclusions, each once, and whether it has any. Exclusions are read as search reads them
    (``exclusion_split``): a dash inside quotes is no exclusion, and one after ``(`` or a quote is."""
    pieces = exclusion_split(text)
    seen: dict[str, None] = {}
    for word in _WORD.findall(" ".join(piece for piece, excluding in pieces if not excluding).lower()):
        if word not in _WEBSEARCH_OPERATORS and word not in seen:
            seen[word] = None
    excluded = ""
    kept: set[str] = set()
    for term in dict.fromkeys(piece for piece, excluding in pieces if excluding):
        if len(excluded) + len(term) >= MAX_EXCLUSION_CHARS:
            break
        excluded += f" {term}"
        kept.add(term)
    written = ""
    for piece, excluding in pieces:
        if excluding and piece in kept:
            kept.discard(piece)
        elif excluding:
            piece = " "
        written += piece
    has_exclusions = any(excluding for _, excluding in pieces)
    return list(seen)[:MAX_QUERY_WORDS], excluded, written, has_exclusions


def relevant_decisions(*, space: Space, query: str | None, product: str | None, limit: int, product_state=None) -> list:
    """The ``limit`` best decisions for the query (and product, with propagation), best first.
    ``product_state``: the product ``product`` names, when the caller already found it."""
    if limit == 0:
        return []
    # Read as decision search reads it (``exclusion_split`` rewrites it once: "-----" is no exclusion).
    words, excluded, written, has_exclusions = _query_words(query or "")
    searches: list[tuple[str | None, str]] = []  # (q, excluding)
    if not query or not (words or has_exclusions):  # only exclusions: rows without them
        searches.append((None, ""))
    else:
        if len(words) <= SHORT_QUERY_WORDS:
            searches.append((written, ""))
        if len(words) > 1 or not searches:
            # Any of the words, and none of the exclusions: given apart, since websearch has no
            # brackets, and "a -x or b -x", the exclusions in each alternative, made a tsquery of
            # thousands of nodes that every candidate was checked against (0.5–2.3 s at 24,000
            # decisions; a stop word's alternative, "-x" alone, matched every row without x). Only
            # the words that can add to it: a statement for more than 16 words, which have no
            # search as written before it that could have found enough.
            searches.append((" or ".join(decision_search_words(space=space, words=words)), excluded))
    found: list = []
    for q, excluding in searches:
        result = decision_search(
            space=space,
            q=q,
            excluding=excluding,
            product=product,
            product_state=product_state,
            include_related=True,
            limit=limit,
        )
        known = {decision.id for decision in found}
        found += [hit.decision for hit in result.hits if hit.decision.id not in known]
        if len(found) >= limit:
            break
    return found[:limit]


def _piece(unit: _Unit, kinds: set[str], groups: set[str], titles: dict[str, str], fmt: str) -> str:
    """What adding ``unit`` adds to the content, given the kinds and groups already in it: its
    text and any heading it opens, each after the line breaks that separate it."""
    piece = "" if unit.kind in kinds else f"\n\n{_heading(titles[unit.kind], fmt, 1)}"
    if unit.kind == "product" and unit.group != "status":
        if unit.group in groups:
            return f"{piece}\n{unit.text}"
        return f"{piece}\n\n{_heading(GROUP_TITLES[unit.group], fmt, 2)}\n{unit.text}"
    return f"{piece}\n\n{unit.text}"


_KIND_RANK = {"kernel": 0, "product": 1, "decisions": 2}
_GROUP_RANK = {group: rank for rank, group in enumerate(DISPLAY_ORDER)}


class _Pieces:
    """The content while units are selected: each kept unit's piece (``_piece``), in print order.

    Joined, less the first piece's leading line breaks, the pieces are ``_assemble``'s content.
    Units are kept in priority order, which is not the print order (a product's lists are kept
    blocked-first), so a piece goes in after the others of its group, and its cost is what it
    adds there, counted exactly with the nearest lines around it (``count_added_tokens``): a
    piece counted alone misses its merges with its neighbours (about a token per list item), and
    the whole content counted again for every unit would be quadratic.
    """

    def __init__(self, titles: dict[str, str], fmt: str):
        self.titles, self.fmt = titles, fmt
        self.order: list[tuple[int, int, int]] = []
        self.texts: list[str] = []
        self.kinds: set[str] = set()
        self.groups: set[str] = set()

    def cost(self, unit: _Unit) -> tuple[int, tuple]:
        """The tokens ``unit`` adds to the content, and its place there (for ``add``)."""
        key = (_KIND_RANK[unit.kind], _GROUP_RANK.get(unit.group, 0), len(self.order))
        at = bisect.bisect(self.order, key)
        text = _piece(unit, self.kinds, self.groups, self.titles, self.fmt)
        if at == 0:
            text = text.removeprefix("\n\n")  # the content starts with its first heading
        # The neighbours back to the nearest piece with a break, and on to the next one.
        start = end = at
        while start > 0:
            start -= 1
            if last_break(self.texts[start]):
                break
        while end < len(self.texts):
            end += 1
            if first_break(self.texts[end - 1]) < len(self.texts[end - 1]):
                break
        before, after = "".join(self.texts[start:at]), "".join(self.texts[at:end])
        return count_added_tokens(before, text, after), (key, at, text)

    def add(self, unit: _Unit, place: tuple) -> None:
        key, at, text = place
        self.order.insert(at, key)
        self.texts.insert(at, text)
        self.kinds.add(unit.kind)
        self.groups.add(unit.group)


def _select(
    units: list[_Unit], kernel: EffectiveKernel, titles: dict, fmt: str, max_tokens: int, scrub: Callable[[str], str]
) -> list[_Unit]:
    """The units that fit ``max_tokens``: the longest run of them, in order, that fits (the drop
    order of the module docstring, reversed).

    A unit that does not fit ends the export, so a larger budget never loses a unit a smaller one
    kept: a part skipped while smaller ones after it were kept, or a kernel shortened to make
    room for them, was swapped back for them by the next larger budget (a product section present
    at 100 tokens and gone at 150). A kernel that alone exceeds the budget is shortened by whole
    lines and is all the export holds. Each unit is charged its exact cost in the content
    (``_Pieces``); the count of the assembled content is checked at the end all the same (the
    lowest-priority units would go until it fits: never over).
    """
    pieces = _Pieces(titles, fmt)
    kept: list[_Unit] = []
    used = 0
    for unit in units:
        if unit.kind == "kernel" and count_tokens(_assemble([unit], titles, fmt)[0]) > max_tokens:
            return _shrunk_kernel(kernel, titles, fmt, max_tokens, scrub)
        cost, place = pieces.cost(unit)
        if used + cost > max_tokens:
            break
        pieces.add(unit, place)
        kept.append(unit)
        used += cost
    while kept and count_tokens(_assemble(kept, titles, fmt)[0]) > max_tokens:
        kept.pop()
    return kept


def _shrunk_kernel(
    kernel: EffectiveKernel, titles: dict[str, str], fmt: str, max_tokens: int, scrub: Callable[[str], str]
) -> list[_Unit]:
    """The kernel re-rendered under what the budget leaves for it (whole lines, by priority)."""
    budget = max_tokens
    while budget > 0:
        if fmt == "text":
            block = renderer.render_text(kernel.sections, max_tokens=budget)
        else:
            block = renderer.render_block(kernel.sections, max_tokens=budget).text
        if not block:
            return []
        unit = [_Unit("kernel", "kernel", scrub(block))]
        over = count_tokens(_assemble(unit, titles, fmt)[0]) - max_tokens
        if over <= 0:
            return unit
        budget -= over
    return []


def kernel_redacted(kernel: EffectiveKernel, scrub: Callable[[str], str], *, sections: bool) -> EffectiveKernel:
    """``kernel`` as handed to an AI (``reader_scrubber``): its block rendered again from the
    redacted sections — so ``injection_tokens`` and ``truncated`` describe the block as sent, still
    within 500 tokens — and with ``sections`` the sections redacted too. The stored blocks stay the
    renderer's cache of the sections as written (no renderer version change): redaction depends on
    the keys the space holds now, so it is applied when an answer is built. ``kernel`` itself when
    no key occurs in it (no render: the common case costs a walk of the sections)."""
    clean = kernel_sections_redacted(kernel.sections, scrub)  # not the section names, nor the time zone
    if clean == kernel.sections:
        return kernel
    block = renderer.render_block(clean)
    return replace(
        kernel,
        sections=clean if sections else kernel.sections,
        injection_block=block.text,
        injection_tokens=block.tokens,
        truncated=block.truncated,
    )


def _affected(space: Space, product: str) -> bool:
    """Whether decision search finds decisions for ``product`` (one without state: those of other
    products that list it in ``affects_products``)."""
    return decision_search(space=space, product=product, include_related=True, limit=1).count > 0


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
) -> KernelExport:
    """Assemble the export of ``space`` (options already validated).

    A ``product`` with no state that decisions of other products affect (``affects_products``,
    matched as decision search matches it) is exported as decision search answers it: its
    decisions, and no product section, having no state to show. A name known to neither — or
    only to decisions, when the caller may not read them (``include_decisions``) — is NOT_FOUND."""
    if fmt not in FORMATS:
        raise errors.ValidationFailed.for_fields({"format": f"Use one of: {', '.join(FORMATS)}."})
    titles = {"kernel": "Identity kernel", "product": "Product", "decisions": "Relevant decisions"}
    # One query for the keys (in a workspace every member's personal ones too); most spaces have
    # none, and then nothing is scanned: this export is a hot path.
    scrub = reader_scrubber(space)
    # Rendered from the redacted sections (a bold product name escapes "*", so a key holding one
    # would not be found in the cached block); the kernel as given, with its cached block, when
    # no key occurs in it. The rendered pieces are scrubbed again all the same.
    kernel = kernel_redacted(kernel, scrub, sections=True)
    units: list[_Unit] = []
    if kernel.injection_block:
        units.append(_Unit("kernel", "kernel", scrub(_kernel_text(kernel, fmt))))
    state = None
    if product is not None:
        state = product_find(space=space, name=product)
        if state is not None:
            # One line: a name stored before the rule may hold U+2028, which would end the title.
            titles["product"] = scrub(f"Product: {one_line(state.name)}")
            units += _product_units(state, scrub)
        elif not (include_decisions and _affected(space, product)):
            raise errors.NotFound(f"No product named {product!r} in this scope.")
    if include_decisions:
        found = relevant_decisions(space=space, query=query, product=product, limit=decisions, product_state=state)
        units += [_Unit("decisions", "decisions", scrub(decision_render_text(d, scrub))) for d in found]

    kept = _select(units, kernel, titles, fmt, max_tokens, scrub)
    content, present = _assemble(kept, titles, fmt)
    total = count_tokens(content)
    # A section's tokens are what it adds to the content — its title, its body and the blank line
    # before it, which merges with the text it follows — so the sections add up to the total.
    sections = []
    done = counted = 0
    for number, (kind, title, body) in enumerate(present, 1):
        part = ("\n\n" if done else "") + _heading(title, fmt, 1) + "\n\n" + body
        tokens = count_added_tokens(content[:done], part) if number < len(present) else total - counted
        sections.append(ExportSection(kind=kind, title=title, content=body, tokens=tokens))
        done += len(part)
        counted += tokens
    per_kind = {section.kind: section.tokens for section in sections}
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
