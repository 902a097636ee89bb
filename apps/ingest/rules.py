"""How a pending signal changes its product's state (SPEC §9), as pure functions.

Consolidation loads a product's state into a ``StateDraft``, applies the product's pending
signals in order (``occurred_at``, then arrival), and writes the draft back once. The rules:

- ``blocker``, ``error``: the title joins ``what_is_blocked`` (and leaves ``what_works``: it broke).
- ``ci``: ``data.outcome == "failure"`` → as a blocker; other outcomes change nothing (the
  signal is ``ignored``).
- ``deploy``: ``data.outcome == "failure"`` → as a blocker; ``success`` (the default) → the
  title joins ``what_works`` and the status becomes ``data.status`` when given, else ``active``
  if the product was ``paused`` or ``blocked`` (a deploy of a shipped product keeps it shipped);
  ``cancelled`` (any other outcome) changes nothing, as for ``ci`` (``ignored``): nothing was
  deployed, so nothing is known to work.
- ``release``: the title joins ``what_works``; the status becomes ``data.status`` or ``shipped``.
- ``unblocked``: the title leaves ``what_is_blocked`` (matched case-insensitively) and joins
  ``what_works``.
- ``question``: the title joins ``open_questions``.
- ``session_summary``: the body becomes ``last_session_summary``, and ``next_session_starts_here``
  becomes ``data.next_session_starts_here`` when given (``""`` clears it), else the body too: as
  MCP ``end_session``, so that a new summary is never paired with an older session's handoff.
- ``commit``, ``issue``, ``note``: no rule (``ignored``; they stay searchable).

"Joins a list" means: the item takes its place in the list by its signal's order
(``signal_order``: ``occurred_at``, then arrival) — last, unless a late signal's — and an item the
list already holds (compared trimmed, case-insensitively, whitespace collapsed, NFC and NFD
spellings alike) moves there, keeping its first spelling. So a list is in the order of its items'
newest signals, and when it would exceed its 100 items, its first items, those reported longest
ago, are dropped: the same items however the signals were batched (a late item older than every
item of a full list is dropped, not an item a newer signal set). Items written directly have no
signal: they stay where they are.

Late signals. The state must not depend on when consolidation ran, so a pending signal leaves
alone every part of the state (its *targets*, ``signal_targets``) that an already-applied signal
which occurred after it set: the result is the one applying all signals in order gives. The
targets: a list item as ``item_key`` matches it (its place in ``what_works``/``what_is_blocked``,
which every rule touching it decides whole); an open question likewise; the status
(``release``, a ``deploy`` with ``data.status``), or its reactivation (a ``deploy`` without one);
``last_session_summary``; ``next_session_starts_here``. The orders of those newer signals
(``StateDraft.ages``) also give a late item its place in its list. Direct writes (``POST
…/state``, the MCP tools) carry no ``occurred_at`` and are not compared: a signal applies on top
of the state as consolidation finds it, even when a direct write came after the signal occurred.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

LIST_MAX_ITEMS = 100
LIST_FIELDS = ("what_works", "what_is_blocked", "open_questions")
# Targets (see "Late signals"); a list item's is ``("item", item_key(title))`` (``list_target``).
STATUS = ("status",)
REACTIVATION = ("reactivation",)  # a deploy without data.status: paused or blocked → active
SUMMARY = ("summary",)
HANDOFF = ("handoff",)
# Types whose signals have targets: the only ones a late signal must not override.
TARGET_TYPES = ("blocker", "error", "ci", "deploy", "release", "unblocked", "session_summary", "question")


def item_key(item: str) -> str:
    """The identity of a list item: trimmed, whitespace collapsed, case-folded, and one for the
    composed and decomposed spellings ("é" as U+00E9 or "e" + U+0301): Unicode's canonical caseless
    match, so items stored before text was normalised on input still match the NFC ones."""
    text = " ".join(item.split())
    if text.isascii():
        return text.casefold()  # the common case: nothing to normalise
    return unicodedata.normalize("NFC", unicodedata.normalize("NFD", text).casefold())


def signal_order(signal) -> tuple:
    """Where ``signal`` stands in the order signals apply in: ``occurred_at``, then arrival (a
    batch shares ``received_at`` and keeps its order through ``position``)."""
    return (signal.occurred_at, signal.received_at, signal.position, signal.id)


@dataclass
class StateDraft:
    """The mutable parts of a product state while consolidation works on it."""

    status: str
    what_works: list[str] = field(default_factory=list)
    what_is_blocked: list[str] = field(default_factory=list)
    open_questions: list[str] = field(default_factory=list)
    next_session_starts_here: str = ""
    last_session_summary: str = ""
    # Not state: ``{list target: signal_order}`` of the newest signal known to have set each item
    # (already-applied ones that occurred after a pending one, and the ones applied here).
    ages: dict = field(default_factory=dict, repr=False, compare=False)

    FIELDS = ("status", *LIST_FIELDS, "next_session_starts_here", "last_session_summary")

    @classmethod
    def of(cls, product, ages: dict | None = None) -> StateDraft:
        return cls(**{name: _copy(getattr(product, name)) for name in cls.FIELDS}, ages=dict(ages or {}))

    def changed_fields(self, product) -> list[str]:
        return [name for name in self.FIELDS if getattr(product, name) != getattr(self, name)]

    def add(self, list_name: str, item: str, order: tuple) -> None:
        """``item``, set by a signal at ``order``, joins the list (see "Joins a list" above)."""
        items: list[str] = getattr(self, list_name)
        key = item_key(item)
        for existing in items:
            if item_key(existing) == key:
                items.remove(existing)
                item = existing
                break
        self.ages[list_target(list_name, key)] = order
        # Only a late signal's item has items of newer signals after it; the rest are older, or
        # written directly (no age: a signal applies on top of them).
        place = len(items)
        while place and self.ages.get(list_target(list_name, item_key(items[place - 1])), order) > order:
            place -= 1
        items.insert(place, item)
        del items[: max(0, len(items) - LIST_MAX_ITEMS)]

    def remove(self, list_name: str, item: str) -> None:
        key = item_key(item)
        setattr(self, list_name, [existing for existing in getattr(self, list_name) if item_key(existing) != key])


def _copy(value):
    return list(value) if isinstance(value, list) else value


def _outcome(signal) -> str:
    return (signal.data or {}).get("outcome") or "success"


def _blocks(signal) -> bool:
    return signal.type in ("blocker", "error") or (signal.type in ("ci", "deploy") and _outcome(signal) == "failure")


def item_target(title: str) -> tuple:
    return ("item", item_key(title))


def list_target(list_name: str, key: str) -> tuple:
    """The target of the item ``key`` of a list: a question's is its own."""
    return ("question" if list_name == "open_questions" else "item", key)


def signal_targets(signal) -> list[tuple]:
    """The parts of a product state ``signal`` sets (see "Late signals" above)."""
    kind, data = signal.type, signal.data or {}
    if _blocks(signal) or kind == "unblocked":
        return [item_target(signal.title)]
    if kind == "deploy" and _outcome(signal) == "success":
        return [item_target(signal.title), STATUS if data.get("status") else REACTIVATION]
    if kind == "release":
        return [item_target(signal.title), STATUS]
    if kind == "session_summary":
        return [SUMMARY, HANDOFF]  # the handoff is the summary when not given
    if kind == "question":
        return [list_target("open_questions", item_key(signal.title))]
    return []


def _reactivate(draft: StateDraft) -> None:
    if draft.status in ("paused", "blocked"):
        draft.status = "active"


def _set_status(draft: StateDraft, status: str, newer: frozenset) -> None:
    if STATUS in newer:
        return
    draft.status = status
    if REACTIVATION in newer:
        _reactivate(draft)  # what that later deploy did to this status, had it come first


def apply_signal(draft: StateDraft, signal, newer: frozenset = frozenset()) -> bool:
    """Apply one signal to ``draft``; False when its type (or outcome) has no rule.

    ``newer``: the targets that already-applied signals which occurred after this one set; this
    signal leaves them as they are (it still counts as applied).
    """
    kind, title, data, order = signal.type, signal.title, signal.data or {}, signal_order(signal)
    mine = item_target(title) not in newer  # the title's list item is still this signal's to set
    if _blocks(signal):
        if mine:
            draft.remove("what_works", title)
            draft.add("what_is_blocked", title, order)
        return True
    if kind == "deploy" and _outcome(signal) == "success":
        if mine:
            draft.add("what_works", title, order)
        if data.get("status"):
            _set_status(draft, data["status"], newer)
        elif not newer & {STATUS, REACTIVATION}:
            _reactivate(draft)
        return True
    if kind == "release":
        if mine:
            draft.add("what_works", title, order)
        _set_status(draft, data.get("status") or "shipped", newer)
        return True
    if kind == "unblocked":
        if mine:
            draft.remove("what_is_blocked", title)
            draft.add("what_works", title, order)
        return True
    if kind == "question":
        if list_target("open_questions", item_key(title)) not in newer:
            draft.add("open_questions", title, order)
        return True
    if kind == "session_summary":
        if SUMMARY not in newer:
            draft.last_session_summary = signal.body
        if HANDOFF not in newer:  # as MCP end_session: not given (None) → the summary; "" clears it
            handoff = data.get("next_session_starts_here")
            draft.next_session_starts_here = signal.body if handoff is None else handoff
        return True
    return False


def clean_draft(draft: StateDraft) -> int:
    """Step 3 of consolidation: drop duplicate list items (first kept) and blocked items that now
    work. Returns how many items were removed."""
    removed = 0
    for list_name in LIST_FIELDS:
        seen: set[str] = set()
        kept = []
        for item in getattr(draft, list_name):
            if item_key(item) in seen:
                removed += 1
                continue
            seen.add(item_key(item))
            kept.append(item)
        setattr(draft, list_name, kept)
    working = {item_key(item) for item in draft.what_works}
    still_blocked = [item for item in draft.what_is_blocked if item_key(item) not in working]
    removed += len(draft.what_is_blocked) - len(still_blocked)
    draft.what_is_blocked = still_blocked
    return removed
