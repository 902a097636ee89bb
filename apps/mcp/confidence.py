"""``check_memory_confidence``: is a context block a client holds still true to current memory?

``assess(block, memory)`` is pure (no database): the tool gathers a ``MemorySnapshot`` and
calls it. The algorithm, step by step (every threshold below is a module constant):

1. **Reading the block.** Each line is normalised: NFKC, leading Markdown marks removed
   (``#`` headings, ``-``/``*``/``+``/``1.`` bullets, ``>``), emphasis and code marks (``**``,
   ``__``, `````) removed, whitespace runs collapsed, case folded. A heading — ``# X`` … ``###### X``,
   a short line ending in ``:`` with nothing after it (the text format), or a line underlined
   with ``===`` — sets the current section; ``SECTION_ALIASES`` maps it to a memory section
   (identity, never, always, communication style, products, model preferences; for the product:
   what works, what is blocked, open questions, next session starts here, last session summary).
   Every other non-empty line is a block fact under the current section. A line ``Status: <word>``
   is a status fact wherever it stands; a line carrying a marker of step 2 is not a fact. The whole
   normalised block, lines joined by spaces, is B.

2. **Markers.** ``kernel version: N`` (also ``kernel_version = N``, ``"kernel_version": N``) is the
   kernel version the block claims; the newest ISO 8601 date or date-time written after
   ``generated``, ``exported``, ``as of`` or ``updated`` (optionally ``_at``, ``:``, ``=``, quotes)
   is the block's *as-of* instant (a bare date means the end of that day; 9999-12-31 ends at
   9999-12-31T23:59:59.999999Z, the last instant a date-time holds). A claimed version other
   than the current one is a stale fact (``kernel_version``); a kernel or product changed after
   the as-of instant is a stale fact (``changed_since``).

3. **Memory facts.** The current memory as facts: every line of the current injection block
   outside the never/always sections, under its heading; and, with ``product_name``, ``status:
   <status>``, each list item, the handoff and the last session summary. A fact is *present* when
   its normalised text occurs in B as whole words, else *missing* (memory says something the
   block lacks) — unless step 4 already reported it as the current text of a changed line.

4. **Stale lines.** Each block fact under a memory section (a kernel section always; a product
   section when ``product_name`` is given) is compared with the memory facts of that section
   (for never/always: the constraints of that kind). It is confirmed when it equals one (for the
   handoff and the last summary, multi-line texts, also when it occurs inside one). Otherwise the
   most similar one, if its ``difflib`` ratio is ≥ ``CHANGED_RATIO``, makes the line *changed*
   (reported with the current text, which then counts as neither missing nor omitted); below
   that the line is *removed* (memory no longer says it). Lines under other headings are the
   client's own notes and are not judged.

5. **Constraints.** Each current constraint (the effective never/always lists) is *contradicted*
   when a block line with the opposite polarity — under the other heading, or starting with the
   other word (``always``; ``never``/``do not``/``don't``) — says the same thing (ratio of the texts
   without the polarity word ≥ ``CONTRADICTION_RATIO``); else, unless step 4 reported it as the
   current text of a changed line, *present* when its text occurs in B as whole words, else
   *omitted*. A line that witnesses a contradiction is not judged again in step 4.

6. **Superseded decisions** (only when the token may read decisions). A superseded decision of
   the space (with ``product_name``: of that product or affecting it) is reported when the block
   mentions it — its id appears, its text occurs in B as whole words, or a block line has ratio ≥
   ``DECISION_RATIO`` with it — and does not mention the decision that replaced it (a block that
   names both already knows about the change).

7. **Score.** issues = 3·contradicted + 2·superseded + stale + missing + omitted; confirmed =
   present facts + present constraints; confidence = confirmed / (confirmed + issues), 1.0 when
   both are 0, rounded to 3 places. ``level`` is ``high`` at ≥ 0.9 with nothing contradicted or
   superseded, ``medium`` at ≥ 0.6, else ``low``; ``fresh`` is true when there is no issue.

8. **Bounded work.** Steps 4–6 compare texts with difflib, whose ratio() can take seconds on two
   long texts of few distinct characters. The comparisons of one assessment share one budget of
   work (``apps.mcp.similarity``; pairs that cannot reach a threshold are skipped without
   changing any result, so ordinary blocks use a small part of it), spent in the order 5, 4, 6.
   A constraint, block line or superseded decision left when it is spent is not judged but
   counted in ``not_compared``; a report with any such count is neither ``fresh`` nor ``high``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from .similarity import OutOfBudget, Similarity, Texts

CHANGED_RATIO = 0.6
CONTRADICTION_RATIO = 0.8
DECISION_RATIO = 0.85
HEADING_MAX_WORDS = 6

SECTION_ALIASES = {
    "identity": "identity",
    "never": "never",
    "always": "always",
    "communication style": "communication_style",
    "products": "products",
    "model preferences": "model_preferences",
    "what works": "what_works",
    "what is blocked": "what_is_blocked",
    "blocked": "what_is_blocked",
    "open questions": "open_questions",
    "next session starts here": "next_session_starts_here",
    "next session": "next_session_starts_here",
    "handoff": "next_session_starts_here",
    "last session summary": "last_session_summary",
    "last session": "last_session_summary",
}
KERNEL_HEADINGS = {"Identity", "Communication style", "Products", "Model preferences"}
PRODUCT_LISTS = ("what_works", "what_is_blocked", "open_questions")
PRODUCT_TEXTS = ("next_session_starts_here", "last_session_summary")
KERNEL_SECTIONS = ("identity", "never", "always", "communication_style", "products", "model_preferences")
PRODUCT_SECTIONS = ("status", *PRODUCT_LISTS, *PRODUCT_TEXTS)
OPPOSITE = {"never": "always", "always": "never"}

_LEAD = re.compile(r"^\s*(?:#{1,6}\s+|[-*+]\s+|\d+[.)]\s+|>\s*)+")
_MARKS = re.compile(r"\*\*|__|`")
_SPACE = re.compile(r"\s+")
_HEADING = re.compile(r"^\s*#{1,6}\s+(?=.)(.*)$")
_UNDERLINE = re.compile(r"^\s*=+\s*$")
_STATUS = re.compile(r"^status:\s*([a-z]+)")
_POLARITY = re.compile(r"^(always|never|do not|don't)\b[\s:,-]*")
# Separators are written so that one run of spaces can be read one way only: ``\s*[:=]?\s*``
# would try every split of a long run (quadratic time on a block of spaces).
_VERSION = re.compile(r"kernel[ _-]?version\W{0,3}\s*(?:[:=]\s*)?\"?([0-9]{1,10})", re.IGNORECASE)
_AS_OF = re.compile(
    r"(?:generated|exported|as of|updated)(?:_at)?\W{0,3}\s*(?:[:=]\s*)?\"?"
    r"([0-9]{4}-[0-9]{2}-[0-9]{2}(?:[t ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?(?:z|[+-][0-9]{2}:?[0-9]{2})?)?)",
    re.IGNORECASE,
)
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
_WORD = re.compile(r"\w")


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = _MARKS.sub("", _LEAD.sub("", text))
    return _SPACE.sub(" ", text).strip().casefold()


def _heading(raw: str) -> str | None:
    """The title of a Markdown heading line (``## What works ##`` → ``What works``), or None."""
    found = _HEADING.match(raw)
    return None if found is None else found.group(1).rstrip().rstrip("#").rstrip()


def _occurs(norm: str, whole: str) -> bool:
    """Whether ``norm`` occurs in ``whole`` as whole words (``login`` is not in ``logins``)."""
    at = whole.find(norm) if norm else -1
    if at < 0:
        return False
    end = at + len(norm)
    if (at == 0 or not _WORD.match(whole, at - 1)) and not _WORD.match(whole, end):
        return True
    # Only when the first occurrence is inside a word: the text leads the pattern, so re scans for
    # it in linear time (a leading lookbehind would try every position), then looks back one
    # character before it.
    pattern = re.compile(rf"{re.escape(norm)}(?<!\w.{{{len(norm)}}})(?!\w)", re.DOTALL)
    return pattern.search(whole, at + 1) is not None


def _core(norm: str) -> str:
    """The text without a leading polarity word."""
    return _POLARITY.sub("", norm, count=1)


def _polarity(fact: Fact) -> str | None:
    if fact.section in OPPOSITE:
        return fact.section
    found = _POLARITY.match(fact.norm)
    if found is None:
        return None
    return "always" if found.group(1) == "always" else "never"


@dataclass(frozen=True)
class Fact:
    section: str | None
    text: str
    norm: str


@dataclass(frozen=True)
class ProductFacts:
    name: str
    status: str
    what_works: list[str]
    what_is_blocked: list[str]
    open_questions: list[str]
    next_session_starts_here: str
    last_session_summary: str
    version: int
    updated_at: datetime | None


@dataclass(frozen=True)
class SupersededDecision:
    id: str
    decision: str
    product_name: str
    replaced_by_id: str
    replaced_by: str


@dataclass(frozen=True)
class MemorySnapshot:
    kernel_block: str
    never: list[str]
    always: list[str]
    kernel_version: int
    kernel_updated_at: datetime | None
    product: ProductFacts | None = None
    superseded: list[SupersededDecision] | None = None  # None: decisions not readable


@dataclass
class _Findings:
    stale: list[dict] = field(default_factory=list)
    missing: list[dict] = field(default_factory=list)
    omitted: list[dict] = field(default_factory=list)
    contradicted: list[dict] = field(default_factory=list)
    superseded: list[dict] = field(default_factory=list)
    confirmed: int = 0
    not_compared: dict = field(default_factory=lambda: {"block_lines": 0, "constraints": 0, "superseded_decisions": 0})


def read_block(block: str) -> list[Fact]:
    """The block's facts, each with the memory section it stands under (step 1)."""
    lines = block.splitlines()
    facts: list[Fact] = []
    section: str | None = None
    for index, raw in enumerate(lines):
        if not raw.strip() or _UNDERLINE.match(raw):
            continue
        heading = _heading(raw)
        underlined = index + 1 < len(lines) and _UNDERLINE.match(lines[index + 1])
        text_heading = raw.rstrip().endswith(":") and not _LEAD.match(raw) and len(raw.split()) <= HEADING_MAX_WORDS
        if heading is not None or underlined or text_heading:
            title = normalise(raw if heading is None else heading).rstrip(":").strip()
            section = SECTION_ALIASES.get(title)
            continue
        norm = normalise(raw)
        status = _STATUS.match(norm)
        if status:
            facts.append(Fact("status", raw.strip(), f"status: {status.group(1)}"))
        elif _AS_OF.search(raw) or _VERSION.search(raw):
            continue  # a marker (step 2), not a fact
        elif norm:
            facts.append(Fact(section, raw.strip(), norm))
    return facts


def _as_of(block: str) -> datetime | None:
    """The newest instant the block says it was generated or updated at (step 2)."""
    found: list[datetime] = []
    for raw in _AS_OF.findall(block):
        text = raw.upper().replace(" ", "T").replace("Z", "+00:00")
        try:
            if len(text) == 10:
                moment = _end_of_day(datetime.fromisoformat(text).date())
            else:
                moment = datetime.fromisoformat(text)
                moment = _in_utc(moment) if moment.tzinfo else moment.replace(tzinfo=UTC)
        except ValueError:
            continue
        found.append(moment)
    return max(found, default=None)


def _in_utc(moment: datetime) -> datetime:
    """``moment`` in UTC, so that the report's ``as_of`` ends in ``Z`` (SPEC §1). One whose offset
    takes it past the years 1–9999 in UTC (``9999-12-31T23:00-05:00``) becomes the nearest instant
    a date-time can hold."""
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return (
            datetime.max.replace(tzinfo=UTC) if moment.utcoffset() < timedelta(0) else datetime.min.replace(tzinfo=UTC)
        )


def _end_of_day(day: date) -> datetime:
    """The instant a bare date stands for: the next midnight (UTC), or for 9999-12-31, which has
    no next day, the last microsecond a date-time can hold."""
    if day == date.max:
        return datetime.max.replace(tzinfo=UTC)
    return datetime.combine(day + timedelta(days=1), time.min, UTC)


def _memory_facts(memory: MemorySnapshot) -> list[Fact]:
    """Step 3: the kernel block's lines outside never/always, and the product's state."""
    facts: list[Fact] = []
    heading = None
    for raw in memory.kernel_block.splitlines():
        title = _heading(raw)
        if title is not None:
            heading = title
        elif raw.strip() and heading in KERNEL_HEADINGS:
            facts.append(Fact(SECTION_ALIASES[heading.casefold()], raw.strip(), normalise(raw)))
    product = memory.product
    if product is not None:
        facts.append(Fact("status", f"Status: {product.status}", f"status: {product.status}"))
        for name in PRODUCT_LISTS:
            facts += [Fact(name, item, normalise(item)) for item in getattr(product, name) if normalise(item)]
        for name in PRODUCT_TEXTS:
            value = getattr(product, name)
            if normalise(value):
                facts.append(Fact(name, value, normalise(value)))
    return facts


def _constraints(memory: MemorySnapshot) -> list[Fact]:
    return [
        Fact(kind, text, normalise(text))
        for kind in ("never", "always")
        for text in getattr(memory, kind)
        if normalise(text)
    ]


def _check_constraints(constraints: list[Fact], block_facts: list[Fact], similarity: Similarity, out) -> set[int]:
    """Step 5 (contradictions): returns the indexes of the block facts that witnessed one."""
    polarities = [_polarity(fact) for fact in block_facts]
    sides = {}
    for polarity in OPPOSITE:
        indexes = [index for index, found in enumerate(polarities) if found == polarity]
        sides[polarity] = (indexes, Texts([_core(block_facts[index].norm) for index in indexes]))
    witnesses: set[int] = set()
    for constraint in constraints:
        indexes, cores = sides[OPPOSITE[constraint.section]]
        try:
            found = cores.first_for(similarity, _core(constraint.norm), CONTRADICTION_RATIO)
        except OutOfBudget:
            out.not_compared["constraints"] += 1
            continue
        if found is not None:
            witness = indexes[found]
            out.contradicted.append(
                {"kind": constraint.section, "constraint": constraint.text, "block_line": block_facts[witness].text}
            )
            witnesses.add(witness)
    return witnesses


def _judge_lines(block_facts, memory_facts, constraints, witnesses, has_product: bool, similarity, out) -> set[Fact]:
    """Step 4: stale block lines; returns the memory facts a changed line points to."""
    pointed: set[Fact] = set()
    sections = set(KERNEL_SECTIONS) | (set(PRODUCT_SECTIONS) if has_product else set())
    pools = {
        section: [m for m in (constraints if section in OPPOSITE else memory_facts) if m.section == section]
        for section in sections
    }
    norms = {section: {m.norm for m in pool} for section, pool in pools.items()}
    texts = {section: Texts([m.norm for m in pool]) for section, pool in pools.items()}
    for index, fact in enumerate(block_facts):
        if index in witnesses or fact.section not in sections:
            continue
        pool = pools[fact.section]
        if fact.norm in norms[fact.section] or (
            fact.section in PRODUCT_TEXTS and any(fact.norm in m.norm for m in pool)
        ):
            continue
        try:
            best = texts[fact.section].best_for(similarity, fact.norm, CHANGED_RATIO)
        except OutOfBudget:
            out.not_compared["block_lines"] += 1
            continue
        source = "product" if fact.section in PRODUCT_SECTIONS else "kernel"
        if best is not None:
            pointed.add(pool[best])
            out.stale.append(
                {
                    "source": source,
                    "section": fact.section,
                    "reason": "changed",
                    "block_line": fact.text,
                    "current": pool[best].text,
                }
            )
        else:
            out.stale.append(
                {
                    "source": source,
                    "section": fact.section,
                    "reason": "removed",
                    "block_line": fact.text,
                    "current": None,
                }
            )
    return pointed


def _check_markers(block: str, memory: MemorySnapshot, as_of: datetime | None, out: _Findings) -> int | None:
    claimed = _VERSION.search(block)
    claimed_version = int(claimed.group(1)) if claimed else None
    if claimed_version is not None and claimed_version != memory.kernel_version:
        out.stale.append(
            {
                "source": "kernel",
                "section": None,
                "reason": "kernel_version",
                "block_line": claimed.group(0),
                "current": f"kernel version {memory.kernel_version}",
            }
        )
    if as_of is not None:
        if memory.kernel_updated_at and memory.kernel_updated_at > as_of:
            out.stale.append(_changed_since("kernel", memory.kernel_updated_at))
        if memory.product and memory.product.updated_at and memory.product.updated_at > as_of:
            out.stale.append(_changed_since("product", memory.product.updated_at))
    return claimed_version


def _changed_since(source: str, updated_at: datetime) -> dict:
    stamp = updated_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return {"source": source, "section": None, "reason": "changed_since", "block_line": None, "current": stamp}


class _Mentions:
    """Step 6: whether the block mentions a decision (by id, by its text, or by a similar line)."""

    def __init__(self, block: str, block_facts: list[Fact], whole: str, similarity: Similarity):
        self.ids = {found.lower() for found in _UUID.findall(block)}
        self.whole = whole
        self.lines = Texts([fact.norm for fact in block_facts])
        self.similarity = similarity
        self.known: dict[str, bool] = {}  # decisions often share a successor

    def __call__(self, decision_id: str, text: str) -> bool:
        if decision_id.lower() in self.ids:
            return True
        norm = normalise(text)
        if norm not in self.known:
            self.known[norm] = (
                _occurs(norm, self.whole) or self.lines.first_for(self.similarity, norm, DECISION_RATIO) is not None
            )
        return self.known[norm]


def _check_decisions(block: str, block_facts: list[Fact], whole: str, memory: MemorySnapshot, similarity, out) -> None:
    mentions = _Mentions(block, block_facts, whole, similarity)
    for decision in memory.superseded or []:
        try:
            stale = mentions(decision.id, decision.decision) and not mentions(
                decision.replaced_by_id, decision.replaced_by
            )
        except OutOfBudget:
            out.not_compared["superseded_decisions"] += 1
            continue
        if stale:
            out.superseded.append(
                {
                    "id": decision.id,
                    "decision": decision.decision,
                    "product_name": decision.product_name,
                    "superseded_by": {"id": decision.replaced_by_id, "decision": decision.replaced_by},
                }
            )


def assess(block: str, memory: MemorySnapshot) -> dict:
    """Compare ``block`` with ``memory`` (steps 1–7 of the module docstring)."""
    block_facts = read_block(block)
    whole = " ".join(normalise(line) for line in block.splitlines() if line.strip())
    as_of = _as_of(block)
    out = _Findings()
    claimed_version = _check_markers(block, memory, as_of, out)
    memory_facts = _memory_facts(memory)
    constraints = _constraints(memory)
    similarity = Similarity()
    witnesses = _check_constraints(constraints, block_facts, similarity, out)
    pointed = _judge_lines(
        block_facts, memory_facts, constraints, witnesses, memory.product is not None, similarity, out
    )
    for fact in memory_facts:
        if fact in pointed:
            continue  # reported as the current text of a changed line
        if _occurs(fact.norm, whole):
            out.confirmed += 1
        else:
            out.missing.append({"section": fact.section, "current": fact.text})
    contradicted = {c["constraint"] for c in out.contradicted}
    for constraint in constraints:
        if constraint.text in contradicted or constraint in pointed:
            continue
        if _occurs(_core(constraint.norm), whole):
            out.confirmed += 1
        else:
            out.omitted.append({"kind": constraint.section, "constraint": constraint.text})
    _check_decisions(block, block_facts, whole, memory, similarity, out)
    issues = 3 * len(out.contradicted) + 2 * len(out.superseded) + len(out.stale) + len(out.missing) + len(out.omitted)
    complete = not any(out.not_compared.values())
    total = out.confirmed + issues
    confidence = round(out.confirmed / total, 3) if total else 1.0
    if confidence >= 0.9 and not out.contradicted and not out.superseded and complete:
        level = "high"
    else:
        level = "medium" if confidence >= 0.6 else "low"
    return {
        "confidence": confidence,
        "level": level,
        "fresh": issues == 0 and complete,
        "as_of": as_of.isoformat().replace("+00:00", "Z") if as_of else None,
        "claimed_kernel_version": claimed_version,
        "stale_facts": out.stale,
        "missing_facts": out.missing,
        "constraints": {"omitted": out.omitted, "contradicted": out.contradicted},
        "superseded_decisions": out.superseded,
        "decisions_checked": memory.superseded is not None,
        "counts": {
            "confirmed": out.confirmed,
            "stale": len(out.stale),
            "missing": len(out.missing),
            "omitted": len(out.omitted),
            "contradicted": len(out.contradicted),
            "superseded": len(out.superseded),
        },
        "not_compared": out.not_compared,
    }
