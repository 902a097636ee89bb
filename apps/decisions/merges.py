"""What a consolidation merge gives its survivor (SPEC §9), and what deleting a copy takes back.

A survivor's ``tags``, ``affects_products``, ``alternatives`` and ``reasoning`` are its own values
followed by what its copies add (``absorbed``): their values in age order without repeats
(affected products by their product key), within the fields' bounds, and each reasoning that says
something new after a ``---`` line. Its own values are recorded (``Decision.merge_base``) when it
takes its first copy, so that deleting a copy can compute its fields again from them and the
copies that stay (``survivors_recompute``): what only the deleted copy gave goes, what the
survivor had itself or another copy gives stays. A MIF export carries ``merge_base`` and its import
restores it; a merge recorded before ``merge_base`` existed, or restored from a file without it, has
its own values estimated instead (``merge_base_of``).
"""

from __future__ import annotations

from .models import AFFECTS_MAX, ALTERNATIVES_MAX, REASONING_MAX, TAGS_MAX, Decision

# Between the reasonings a survivor takes from its duplicates (a Markdown rule, README).
REASONING_SEPARATOR = "\n\n---\n\n"
# The fields a merge adds to, and what ``merge_base`` holds besides: the product keys of
# ``affects_products`` (a generated column of PostgreSQL's lowercasing, kept rather than redone).
MERGED_FIELDS = ("tags", "affects_products", "alternatives", "reasoning")
BASE_FIELDS = (*MERGED_FIELDS, "affects_keys")
# Columns a recompute never reads: the vector and the search document are large.
UNREAD = ("embedding", "search_document")


def _union(own: list, own_keys: list, others: list[tuple[list, list]], limit: int) -> list:
    """``own``, then each of ``others``' values whose key is new, while fewer than ``limit``."""
    kept, seen = list(own), set(own_keys)
    for values, keys in others:
        for value, key in zip(values, keys, strict=True):
            if len(kept) >= limit:
                return kept
            if key not in seen:
                seen.add(key)
                kept.append(value)
    return kept


def _joined_reasoning(own: str, others: list[str]) -> str:
    """``own``, then each of ``others`` that says something new (compared trimmed, with every
    part already joined) and still fits ``REASONING_MAX``; one that does not fit is skipped."""
    text = own
    known = {part.strip() for part in own.split(REASONING_SEPARATOR)}
    for reasoning in others:
        if not reasoning.strip() or reasoning.strip() in known:
            continue
        added = (REASONING_SEPARATOR if text else "") + reasoning
        if len(text) + len(added) <= REASONING_MAX:
            text += added
            known.add(reasoning.strip())
    return text


def absorbed(base: dict, copies: list[Decision]) -> dict:
    """The merged fields of a survivor whose own values are ``base`` and whose copies are
    ``copies`` (oldest first); what does not fit stays on the copies, which keep all they had."""
    return {
        "tags": _union(base["tags"], base["tags"], [(c.tags, c.tags) for c in copies], TAGS_MAX),
        "affects_products": _union(
            base["affects_products"],
            base["affects_keys"],
            [(c.affects_products, c.affects_keys) for c in copies],
            AFFECTS_MAX,
        ),
        "alternatives": _union(
            base["alternatives"],
            base["alternatives"],
            [(c.alternatives, c.alternatives) for c in copies],
            ALTERNATIVES_MAX,
        ),
        "reasoning": _joined_reasoning(base["reasoning"], [c.reasoning for c in copies]),
    }


def _own_count(keys: list, held: set) -> int:
    """How many of a survivor's values (by ``keys``) are taken as its own: up to the last one that
    no copy holds (its own come first, so those before it are its own too), and at least one."""
    count = min(len(keys), 1)
    for index, key in enumerate(keys):
        if key not in held:
            count = index + 1
    return count


def merge_base_of(survivor: Decision, copies: list[Decision]) -> dict:
    """The survivor's own values: those recorded at its first merge, or, for a merge made before
    they were recorded or restored from a MIF file without them, estimated from ``copies`` (every
    copy merged into it, as they are now): its values up to the last one none of them holds, and at least its first
    of each field (reasoning by its ``---`` parts). The merge appended the copies' values after its
    own, so those before one no copy holds are its own; after it, a value a copy holds too may be
    either, and is taken as the copies' — but a first one is taken as the survivor's, since a
    survivor that had one and copies that repeat it (a decision logged twice) are the common case.
    """
    if survivor.merge_base is not None:
        return survivor.merge_base
    base = {name: getattr(survivor, name) for name in BASE_FIELDS}
    if not copies:
        return base
    for name, key in (("tags", "tags"), ("affects_products", "affects_keys"), ("alternatives", "alternatives")):
        count = _own_count(getattr(survivor, key), {k for copy in copies for k in getattr(copy, key)})
        base[name] = base[name][:count]
    base["affects_keys"] = base["affects_keys"][: len(base["affects_products"])]
    parts = survivor.reasoning.split(REASONING_SEPARATOR)
    held = {part.strip() for copy in copies for part in copy.reasoning.split(REASONING_SEPARATOR)}
    base["reasoning"] = REASONING_SEPARATOR.join(parts[: _own_count([part.strip() for part in parts], held)])
    return base


def _store(survivor: Decision, values: dict, base: dict | None) -> bool:
    """Write the survivor's merged fields ``values`` and its ``merge_base``, where they changed;
    True if its embedded text changed, whose vector is then dropped (it may encode a deleted copy's
    words; the embedding task computes it again). ``search_document``, ``affects_keys`` and the
    space's words follow in PostgreSQL (a generated column and the words trigger)."""
    changes = {name: value for name, value in values.items() if value != getattr(survivor, name)}
    if base != survivor.merge_base:
        changes["merge_base"] = base
    if not changes:
        return False
    # Imported here: the memory app builds on this one.
    from apps.memory.embedding_runs import embedding_targets

    target = next(t for t in embedding_targets() if t.model is Decision)
    before = target.text(survivor)
    for name, value in changes.items():
        setattr(survivor, name, value)
    embedded = target.text(survivor) != before
    if embedded:
        changes.update(embedding=None, embedding_model="", embedding_dimensions=None)
    Decision.objects.filter(pk=survivor.pk).update(**changes)
    return embedded


def survivor_absorb(*, survivor: Decision, merged: list[Decision]) -> None:
    """The survivor takes what ``merged`` (its duplicates just merged into it, oldest first) add
    (consolidation's step 2), after its own values and what earlier merges gave it; idempotent.
    Its own values are recorded on its first merge (``merge_base``)."""
    base = survivor.merge_base
    if base is None:
        earlier = Decision.objects.filter(merged_into=survivor).exclude(pk__in=[m.pk for m in merged])
        base = merge_base_of(survivor, list(earlier))
    current = {name: getattr(survivor, name) for name in BASE_FIELDS}
    _store(survivor, absorbed(current, merged), base)


def survivors_affected(*, survivor_ids) -> list[tuple[Decision, dict]]:
    """Before a delete: ``survivor_ids`` (the survivors, not deleted, of the copies about to be)
    and the survivors those were merged into in turn, each listed before its own survivor, with its
    own values (``merge_base_of``, estimated while the doomed copies still count)."""
    rows: dict = {}
    frontier = set(survivor_ids)
    while frontier:
        found = list(Decision.objects.filter(pk__in=frontier).defer(*UNREAD))
        rows.update((row.pk, row) for row in found)
        frontier = {row.merged_into_id for row in found if row.merged_into_id is not None} - rows.keys()
    if not rows:
        return []
    copies: dict = {pk: [] for pk in rows}
    for copy in Decision.objects.filter(merged_into__in=list(rows)).defer(*UNREAD):
        copies[copy.merged_into_id].append(copy)

    def depth(row) -> int:  # how far below the top of its merges (a survivor no one absorbed)
        seen = {row.pk}
        while row.merged_into_id in rows and row.merged_into_id not in seen:
            row = rows[row.merged_into_id]
            seen.add(row.pk)
        return len(seen)

    ordered = sorted(rows.values(), key=depth, reverse=True)
    return [(row, merge_base_of(row, copies[row.pk])) for row in ordered]


def survivors_recompute(affected: list[tuple[Decision, dict]]) -> set:
    """After a delete: each survivor of ``affected`` (``survivors_affected``) as its own values
    and the copies that stay make it, as if the deleted ones had never merged into it; one left
    without copies keeps no ``merge_base``. Returns the ids of the spaces where a survivor's
    embedded text changed (its vector dropped)."""
    spaces = set()
    for survivor, base in affected:
        copies = list(Decision.objects.filter(merged_into=survivor).defer(*UNREAD).order_by("created_at", "id"))
        if _store(survivor, absorbed(base, copies), base if copies else None):
            spaces.add(survivor.space_id)
    return spaces
