"""The steps of a consolidation run (SPEC §9). ``apps.memory.consolidation`` runs them.

Steps 1–4 (``apply_steps``) run in the caller's transaction under a per-space advisory lock, so
they are applied together or not at all; step 5 (``compute_embeddings``) runs after the commit,
because provider calls are slow and each embedded batch is worth keeping on its own.

1. Pending signals are applied to their product's state in order (``apps.ingest.rules``) and
   marked ``applied`` or ``ignored``. A late one (older than signals applied by earlier runs)
   leaves alone what those set, so the state is the same whatever batches the runs saw; it is
   still marked ``applied`` and counted in ``signals_applied``. A signal of a product created
   while the run was locking the space's products waits for the next run.
2. Duplicate current decisions of a product merge: the same normalised text (case, whitespace and
   trailing punctuation ignored) or trigram similarity ≥ 0.9 where the words, read in order, are
   as alike and differ in no number, symbol or negation (``is_revision``: a revision is no copy) — to the
   group's survivor, its
   oldest (first recorded) decision, not merely to another member (``_duplicate_groups``). The
   survivor keeps its id and stays current and takes what the others add — their tags, affected
   products, alternatives and reasoning (``_absorb``); the others are superseded — nothing is
   deleted. A decision
   supersedes at most one other (the ``supersedes`` link is one-to-one), so a group of n merges
   as a chain: the survivor supersedes the next oldest duplicate, which supersedes the next, and
   so on; following ``superseded_by`` from any merged decision ends at the survivor (for a pair,
   directly). If the survivor already superseded an older decision, that link moves to the end of
   the chain; a duplicate that already supersedes another decision stays out of the merge.
3. Product states are cleaned: duplicate list items go (the first is kept), and items now in
   ``what_works`` leave ``what_is_blocked``.
4. The kernel's product snapshots are refreshed — the ≤ 10 most recently active products that
   are not archived, with their current status (a snapshot's ``summary`` and ``url`` are kept,
   on its product state too, so that they come back with a product that left and returns; an
   entry the owner removed from the kernel comes back without them),
   followed by the kernel's other products while there is room — and its block re-rendered.
"""

from __future__ import annotations

import json
import logging
import sys
import unicodedata
from collections import defaultdict
from types import SimpleNamespace

import regex
from django.db import connection
from django.db.models.functions import Lower
from django.utils import timezone
from rapidfuzz.distance import Indel

from apps.decisions.merges import survivor_absorb
from apps.decisions.models import Decision
from apps.identity.models import Kernel
from apps.identity.services import block_key, kernel_render, kernel_update
from apps.ingest.models import Signal
from apps.ingest.rules import (
    REACTIVATION,
    STATUS,
    TARGET_TYPES,
    StateDraft,
    apply_signal,
    clean_draft,
    signal_order,
    signal_targets,
)
from apps.memory.embedding_runs import _pending, embedding_targets, embeddings_compute_pending
from apps.memory.embeddings import EmbeddingUnavailable, provider_for_space
from apps.memory.similar import Budget, similar_pairs
from apps.products.models import ProductState
from apps.products.names import product_name_keys
from apps.scopes.models import Space
from synchronex.db.locks import hold_space_lock

logger = logging.getLogger(__name__)

LOCK_CLASS = 0x53584D43  # advisory-lock namespace of consolidation runs ("SXMC")
NEAR_DUPLICATE_SIMILARITY = 0.9
# Near-duplicate pairs one run takes; only a product with some 140 mutually near-identical
# decisions reaches it. See ``_duplicate_groups``.
NEAR_DUPLICATE_PAIRS_MAX = 10_000
# The work one run's search for them may do, in trigram-index entries read (apps.memory.similar):
# ~20 s of a worker at most, at 30–90 ns a read (measured on a loaded machine). The 5,000 decisions
# of bench/consolidation_bench.py take 33 million; some 2,400 long decisions that are all much
# alike (~0.74) and none a duplicate take it all.
NEAR_DUPLICATE_READS_MAX = 200_000_000
# What sets a revision apart from a copy (``revision_marks``, ``is_revision``): runs of digits,
# symbols, and negations (``NEGATION``).
NUMBER = regex.compile(r"\d+")
# A symbol: a character of Unicode's categories Sm, Sc, Sk and So ("→", "€", "+", "✅", "🔴") or a
# number that is no digit ("½", "²", "Ⅻ"), each one word. Not punctuation (categories P*: ".", "!",
# "-", "/", "&", "#", "…", "。", "«"), which a copy may add or drop, nor the backquote (Sk), which
# marks code in Markdown; an emoji's variation selector (U+FE0E/U+FE0F) and joiner are dropped.
SYMBOL = regex.compile(r"[\p{S}\p{No}\p{Nl}--[`]]", regex.V1)
VARIATION_SELECTORS = regex.compile(r"[\uFE00-\uFE0F\U000E0100-\U000E01EF]")
# Negations, read lowercased (``’`` as ``'``). What a decision says it does not do is a revision of
# what it does, in any language it is written in; a pair left apart is only two current decisions,
# where a wrong merge hides one, so the set is generous. A word of its own (not inside a word):
# English (``n't`` ending any word, and the common contractions written without the apostrophe),
# German, Dutch, Danish, Norwegian, Swedish, Finnish, Hungarian, French (``ne``, ``pas``, ``n'``
# elided before a word…), Spanish, Italian, Portuguese, Romanian, Polish, Czech, Slovak, Russian,
# Ukrainian, Greek, Turkish, Vietnamese, Indonesian and Malay, Arabic, Hebrew, Persian, Hindi and
# Korean (안). Inside words, in scripts written without spaces or where negation is a suffix:
# Chinese (不 没 沒 无 無 未 别 別 勿 非), Japanese (ない ません), Korean (않 없 못 아니 아닌),
# Thai (ไม่ ห้าม), Lao (ບໍ່) and Khmer (មិន). Words that are also common English words ("sin",
# "nic", "sem", "en") are left out.
_NEGATION_WORDS = (
    # English
    "not|no|never|without|nor|neither|none|nobody|nothing|nowhere|cannot"
    "|(?:do|does|did|ca|wo|is|are|was|were|should|would|could|must|need|have|has|had|ai)nt"
    # German, Dutch, Danish, Norwegian, Swedish, Finnish, Hungarian
    "|nicht|nichts|kein|keine|keinen|keinem|keiner|keines|nie|niemals|niemand|nirgends|ohne|weder"
    "|niet|niets|geen|nooit|zonder|nergens|ikke|ikkje|aldri|aldrig|uten|uden|intet|ingen|inget|inga"
    "|ingenting|inte|icke|ej|ei|eivät|emme|ette|älä|nem|nincs|soha"
    # French, Spanish, Italian, Portuguese, Romanian
    "|ne|pas|jamais|sans|aucun|aucune|rien|ni|non|nunca|jamás|ningún|ninguno|ninguna|nada|nadie"
    "|tampoco|mai|senza|nessuno|nessuna|niente|nulla|né|não|nao|nenhum|nenhuma|ninguém|nem|nu"
    "|niciodată|fără"
    # Polish, Czech, Slovak, Russian, Ukrainian, Greek, Turkish
    "|nigdy|bez|żaden|żadna|żadne|nikt|nikdy|žádný|žádná|žádné|не|нет|никогда|без|ни|ничего|никто"
    "|нельзя|ні|ніколи|немає|δεν|μην|όχι|ποτέ|χωρίς|ούτε|değil|yok|asla|hiç|hiçbir"
    # Vietnamese, Indonesian and Malay, Arabic, Hebrew, Persian, Hindi, Korean
    "|không|chưa|chẳng|đừng|tidak|tak|bukan|jangan|tanpa|belum|لا|لم|لن|ليس|ليست|بدون|غير|أبدا"
    "|לא|אין|בלי|نه|هرگز|नहीं|मत|बिना|안"
)
_NEGATION_INSIDE = "不|没|沒|无|無|未|别|別|勿|非|ない|ません|않|없|못|아니|아닌|ไม่|ห้าม|ບໍ່|មិន"
NEGATION = regex.compile(
    rf"n't\b|(?<![\p{{L}}\p{{M}}\p{{N}}_])(?:{_NEGATION_WORDS})(?![\p{{L}}\p{{M}}\p{{N}}_])"
    rf"|(?<![\p{{L}}\p{{M}}\p{{N}}_])n'(?=\p{{L}})|{_NEGATION_INSIDE}"
)
# A word of ``revision_words``: a negation (each written as this mark), a run of digits, a run of
# letters (with their marks), a symbol.
NEGATED = "¬"
WORD = regex.compile(rf"{NEGATED}|\d+|\p{{L}}[\p{{L}}\p{{M}}]*|{SYMBOL.pattern}", regex.V1)
KERNEL_PRODUCTS_MAX = 10


def _punctuation() -> str:
    """The characters of Unicode's punctuation categories (P*) as a bracket expression of
    PostgreSQL's regular expressions, in ``\\uXXXX`` and ``\\UXXXXXXXX`` ranges (189 of them, so
    the SQL holds no quote, brace or percent sign). Not ``[:punct:]``, which under a UTF-8 locale
    takes symbols too: "Deploy ✅" and "Deploy ❌" both ended as "deploy"."""
    ranges: list[list[int]] = []
    for code in range(sys.maxunicode + 1):
        if unicodedata.category(chr(code)).startswith("P"):
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1][1] = code
            else:
                ranges.append([code, code])

    def escaped(code: int) -> str:
        return f"\\u{code:04X}" if code <= 0xFFFF else f"\\U{code:08X}"

    return "".join(escaped(a) if a == b else f"{escaped(a)}-{escaped(b)}" for a, b in ranges)


# Text of a decision with case, runs of whitespace and trailing punctuation ignored, in NFC: text
# is stored NFC, but rows stored before that rule may not be (and NFC and NFD "é" are one text).
# normalize() has no quick check of its own: ASCII (as many bytes as characters) and NFC text
# skip it (measured on 100,000 decisions: as fast as without normalising; normalize() alone +40%).
NFC_TEXT = (
    "CASE WHEN octet_length({col}) = length({col}) OR {col} IS NFC NORMALIZED THEN {col} ELSE normalize({col}, NFC) END"
)
# Trailing punctuation is Unicode's (``_punctuation``): a symbol or an emoji ending a decision is a
# word of it ("Deploy ✅", "Use C++").
NORMALISED = (
    r"regexp_replace(lower(regexp_replace(btrim("
    + NFC_TEXT
    + r"), '\s+', ' ', 'g')), '[[:space:]"
    + _punctuation()
    + r"]+$', '')"
)


def lock_space(space: Space) -> None:
    """Hold the space's consolidation lock until the current transaction ends (waits for it)."""
    hold_space_lock(LOCK_CLASS, space.id)


# -- step 1 ---------------------------------------------------------------------------------------
def _newest_applied(pending: list) -> dict:
    """``{(product id, target): order}`` of the newest applied signal that set each target, among
    the applied signals that occurred since each product's oldest pending one (the only ones that
    can overtake a pending signal). One query on the (product, occurred_at) index, read back one
    row per product, type, title and rule-relevant ``data`` (the body is not read)."""
    since: dict = {}
    for signal in pending:  # in order: the first of a product is its oldest
        since.setdefault(signal.product_id, signal.occurred_at)
    if not since:
        return {}
    newest: dict = {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT ON (product_id, type, title, slim) product_id, type, title, slim,"
            " occurred_at, received_at, position, id FROM ("
            "  SELECT s.product_id, s.type, CASE WHEN s.type = 'session_summary' THEN '' ELSE s.title END AS title,"
            "   jsonb_build_object('outcome', s.data->'outcome', 'status', s.data->'status') AS slim,"
            "   s.occurred_at, s.received_at, s.position, s.id"
            "  FROM unnest(%s::uuid[], %s::timestamptz[]) AS p(product_id, since)"
            f"  JOIN {Signal._meta.db_table} s ON s.product_id = p.product_id AND s.occurred_at >= p.since"
            "  WHERE s.status = 'applied' AND s.type = ANY(%s)"
            " ) applied"
            " ORDER BY product_id, type, title, slim, occurred_at DESC, received_at DESC, position DESC, id DESC",
            [list(since), list(since.values()), list(TARGET_TYPES)],
        )
        for product_id, kind, title, data, *order in cursor:
            # Django has raw jsonb come back as text (JSONField decodes its own).
            for target in signal_targets(SimpleNamespace(type=kind, title=title, data=json.loads(data))):
                key = (product_id, target)
                newest[key] = max(newest.get(key, tuple(order)), tuple(order))
    return newest


def _apply_signals(*, space: Space, products: dict, drafts: dict, product_id) -> tuple[int, int]:
    pending = Signal.objects.select_for_update().filter(space=space, status=Signal.Status.PENDING)
    if product_id is not None:
        pending = pending.filter(product_id=product_id)
    pending = list(pending.order_by("occurred_at", "received_at", "position", "id"))
    # ``products`` came from a locking read whose snapshot predates products committed while it
    # waited for a locked row, and this later read sees their signals: those wait for the next
    # run, which locks their products with the rest.
    pending = [signal for signal in pending if signal.product_id in products]
    # A late signal must not override what an already-applied later one set (apps.ingest.rules).
    newest = _newest_applied(pending)
    ages = defaultdict(dict)  # per product: what a late signal's list item is placed among (its items')
    for (pk, target), order in newest.items():
        ages[pk][target] = order
    applied, ignored = [], []
    for signal in pending:
        draft = drafts.get(signal.product_id)
        if draft is None:
            draft = drafts[signal.product_id] = StateDraft.of(products[signal.product_id], ages[signal.product_id])
        order = signal_order(signal)
        newer = frozenset(
            target
            for target in (*signal_targets(signal), STATUS, REACTIVATION)
            if newest.get((signal.product_id, target), order) > order
        )
        (applied if apply_signal(draft, signal, newer) else ignored).append(signal.pk)
    now = timezone.now()
    if applied:
        Signal.objects.filter(pk__in=applied).update(status=Signal.Status.APPLIED, applied_at=now)
    if ignored:
        Signal.objects.filter(pk__in=ignored).update(status=Signal.Status.IGNORED, applied_at=now)
    return len(applied), len(ignored)


# -- step 2 ---------------------------------------------------------------------------------------
def revision_marks(text: str) -> tuple[tuple[str, ...], tuple[str, ...], int]:
    """The numbers of ``text`` (its runs of digits, as written, in text order), its symbols
    (``SYMBOL``, in text order) and how many negations it holds (``NEGATION``, read lowercased,
    ``’`` as ``'``): near-identical decisions whose marks differ are revisions (``is_revision``,
    which these let skip most of its work).
    Trigram similarity hardly sees either, nor their order, as it compares sets of trigrams ("Do
    not store card numbers in Postgres" and "Do store …" are 0.92 alike, a rate limit of 100 and of
    1000 0.98, a freeze on 2025-03-04 and on 2025-04-03 1.0), and merged into the decision it
    revises, a newer decision was hidden from every default view under the old one's text. So
    "do not" and "don't" are one negation each, "1,000" is not "1000", and "2 replicas and 3
    shards" is not "3 shards and 2 replicas" (a pair left apart is only two current decisions,
    where a wrong merge hides one). Symbols too: pg_trgm reads letters and digits only, so "Deploy
    ✅" and "Deploy ❌", "price €10" and "price $10", "use → v2" and "use ← v2" were 1.0 alike."""
    text = _lowered(text)
    return tuple(NUMBER.findall(text)), tuple(SYMBOL.findall(text)), len(NEGATION.findall(text))


def revision_words(text: str) -> tuple[str, ...]:
    """The words of ``text`` in order for ``is_revision``: runs of letters, runs of digits, each
    symbol (``SYMBOL``), and each negation as ``NEGATED`` ("don't" is "do ¬", "cannot" "¬", "n'utilise
    pas" "¬ utilise ¬", "不使用" "¬ 使用"); punctuation and spacing dropped."""
    return tuple(WORD.findall(NEGATION.sub(f" {NEGATED} ", _lowered(text))))


def is_revision(one: tuple[str, ...], other: tuple[str, ...]) -> bool:
    """Whether two decisions trigram similarity found near-identical, given as their
    ``revision_words``, are a revision rather than a copy: their words read in order are less than
    0.9 alike (rapidfuzz's Indel similarity of the words joined, difflib's ratio without its
    heuristics: trigrams ignore order, so clauses that swap their objects are 1.0 alike), or the
    words they differ in (aligned in order, the longest common subsequence) hold a number, a symbol
    or a negation (any word that is no run of letters) — a number moved ("timeout 30 s, retries 5"
    and "timeout 5 s, retries 30") or a negation moved to the other clause ("Do not use Redis; use
    PostgreSQL" and its mirror), "✅" for "❌". A typo, punctuation or "the" for "a" is a copy. Both
    steps are bit-parallel, O(n·m/64) for n and m
    characters or words (under a millisecond for two 2,000-character decisions)."""
    if Indel.normalized_similarity(" ".join(one), " ".join(other)) < NEAR_DUPLICATE_SIMILARITY:
        return True
    for step in Indel.opcodes(one, other):
        if step.tag != "equal":
            differing = (*one[step.src_start : step.src_end], *other[step.dest_start : step.dest_end])
            if any(not word[0].isalpha() for word in differing):
                return True
    return False


def _lowered(text: str) -> str:
    return VARIATION_SELECTORS.sub("", text.lower().replace("\u2019", "'"))


def _duplicate_groups(*, space: Space, product_id) -> list[set]:
    """Groups (≥ 2) of current decisions of one product: a survivor, its oldest (first recorded)
    decision, and the decisions that are duplicates of it — the same normalised text, or trigram
    similarity ≥ 0.9 to the survivor and no revision of it (``revision_marks`` first, then
    ``is_revision``, read from the normalised text; a pair that is one is dropped here, before it
    counts towards the cap below).

    Similarity is not transitive: a and c can each be 0.9 to b and 0.7 to each other. Joining
    every near-duplicate pair let a chain of small edits merge decisions that share little (the
    last of six one-edit steps was superseded by the first, at 0.71, and no default view found
    it). So a decision joins only its survivor's group: the oldest decision takes what is near
    it, then the oldest of those left takes what is near it among the rest, and so on. One run
    thus leaves what a second would: no two current decisions that are duplicates.

    One statement, linear in a product's decisions: decisions with the same normalised text come
    back as one row (their class, oldest first), and each class's oldest decision comes back as
    its representative, with its trigrams and its place in the order of recording;
    near-identical representatives are then found in Python (``apps.memory.similar``, pg_trgm's
    similarity without comparing every pair). The members of a class have the same trigrams
    (pg_trgm ignores case, spacing and punctuation as well), so the representative's similarity
    is every member's. No similarity is computed beyond those pairs: a class not paired with the
    survivor's is not similar enough to it.

    Bound: a run takes at most ``NEAR_DUPLICATE_PAIRS_MAX`` near-duplicate pairs. One that
    reaches it (a warning is logged) merges the groups those pairs form — each member a true
    duplicate of its survivor — and leaves the rest to the next run; a decision whose pair with
    an older survivor was not read may survive this run and merge into that one in the next.
    Finding pairs is bounded too, by ``NEAR_DUPLICATE_READS_MAX``, whatever the texts: long ones
    that are all much alike are candidates of one another, none a pair, and the search was
    quadratic in them (1,000 took over a minute). Products are searched smallest first, a
    product's texts shortest first; the first text whose search does not fit in what is left is
    not searched, nor are its product's longer ones (a warning is logged): they merge by their
    exact text only, and the next run, reading the same, leaves them so while they stay as alike.
    """
    narrow = " AND product_id = %s" if product_id is not None else ""
    extra = [product_id] if product_id is not None else []
    classes: dict = {}  # representative → its class (≥ 2 decisions of one normalised text), oldest first
    ages: dict = {}  # representative → its place in the order of recording (created_at, id)
    texts: dict = {}  # representative → its normalised text
    representatives = defaultdict(list)
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH live AS MATERIALIZED ("
            f" SELECT id, product_id, decision, {NORMALISED.format(col='decision')} AS text"
            ", row_number() OVER (ORDER BY created_at, id) AS age"  # the order _merge_group picks survivors by
            f" FROM decisions_decision WHERE space_id = %s AND superseded_by_id IS NULL{narrow}"
            ") SELECT array_agg(id ORDER BY age), product_id, NULL::text[], NULL::bigint, NULL::text FROM live"
            " GROUP BY product_id, text HAVING count(*) > 1"
            " UNION ALL SELECT ARRAY[id], product_id, show_trgm(decision), age, text FROM ("
            "  SELECT DISTINCT ON (product_id, text) id, product_id, decision, age, text"
            "  FROM live ORDER BY product_id, text, age"
            " ) reps",
            [space.pk, *extra],
        )
        for ids, product, trigrams, age, text in cursor:
            if trigrams is None:
                classes[ids[0]] = ids
            else:
                ages[ids[0]] = age
                texts[ids[0]] = text
                representatives[product].append((ids[0], trigrams))
    near: dict = defaultdict(set)  # representative → the representatives near-identical to it
    budget = Budget(NEAR_DUPLICATE_READS_MAX)
    # representative → its ``revision_marks`` and ``revision_words``, read only for those in a pair
    marks: dict = {}

    def revision(one, other) -> bool:
        for representative in (one, other):
            if representative not in marks:
                text = texts[representative]
                marks[representative] = (revision_marks(text), revision_words(text))
        return marks[one][0] != marks[other][0] or is_revision(marks[one][1], marks[other][1])

    # Smallest products first: a product of many alike decisions spends what is left, not all.
    pairs = (
        pair
        for items in sorted(representatives.values(), key=len)
        for pair in similar_pairs(items, NEAR_DUPLICATE_SIMILARITY, budget)
        if not revision(*pair)
    )
    for count, (one, other) in enumerate(pairs):
        if count == NEAR_DUPLICATE_PAIRS_MAX:
            logger.warning(
                "consolidation of space %s: took the cap of %s near-duplicate decision pairs; the rest waits",
                space.pk,
                count,
            )
            break
        near[one].add(other)
        near[other].add(one)
    if budget.spent:
        logger.warning(
            "consolidation of space %s: the near-duplicate search took its cap of %s index reads;"
            " the longest decisions of a product were left unsearched",
            space.pk,
            NEAR_DUPLICATE_READS_MAX,
        )
    groups, taken = [], set()
    # Oldest first: a class still untaken when its turn comes is near no older survivor, so it is
    # a survivor itself and takes what is near it and untaken. Linear in the pairs read.
    for survivor in sorted(near.keys() | classes.keys(), key=ages.__getitem__):
        if survivor in taken:
            continue
        joined = [survivor, *(other for other in near.get(survivor, ()) if other not in taken)]
        taken.update(joined)
        group = {pk for representative in joined for pk in classes.get(representative, (representative,))}
        if len(group) > 1:
            groups.append(group)
    return groups


def _absorb(survivor: Decision, merged: list[Decision]) -> None:
    """The survivor takes what its merged duplicates add, so that the default views (current
    decisions only) still find by tag, by affected product and by text what they said (SPEC §9:
    nothing is lost): its own values first, then each duplicate's in age order (``merged`` is
    oldest first), without repeats, within the fields' bounds (``apps.decisions.merges``, which
    also takes a deleted copy's back out). What does not fit stays on the superseded duplicate,
    which keeps everything it had either way. Idempotent. A survivor whose embedded text changed
    loses its vector, and step 5 computes it again."""
    survivor_absorb(survivor=survivor, merged=merged)


def _merge_group(ids: set) -> int:
    members = list(Decision.objects.select_for_update().filter(pk__in=ids).order_by("created_at", "id"))
    members = [m for m in members if m.superseded_by_id is None]
    if len(members) < 2:
        return 0
    survivor = members[0]
    chain = [survivor] + [m for m in members[1:] if m.supersedes_id is None]
    if len(chain) < 2:
        return 0
    moved = survivor.supersedes_id  # the survivor's own older decision moves to the chain's end
    # Updates of ``supersedes`` fire the trigger that keeps ``superseded_by`` in step.
    for older, newer in zip(chain, chain[1:], strict=False):
        Decision.objects.filter(pk=older.pk).update(supersedes_id=newer.pk)
    if moved is not None:
        Decision.objects.filter(pk=chain[-1].pk).update(supersedes_id=moved)
    # Recorded, unlike a supersede by hand: deleting the survivor deletes its copies too
    # (``apps.decisions.services``), or the next copy would be current with the same text.
    Decision.objects.filter(pk__in=[m.pk for m in chain[1:]]).update(merged_into=survivor.pk)
    _absorb(survivor, chain[1:])  # only the merged: a duplicate kept out stays current with its own
    return len(chain) - 1


def _merge_decisions(*, space: Space, product_id) -> int:
    return sum(_merge_group(group) for group in _duplicate_groups(space=space, product_id=product_id))


# -- step 4 ---------------------------------------------------------------------------------------
def _remember_descriptions(*, states: dict, old: dict) -> None:
    """Store on each product state the summary and URL of its kernel entry (absent: none), where
    they outlast the entry: a product that leaves the kernel's ≤ 10 gets them back when it returns.
    The owner's kernel write records them itself, and clears them where it removed the entry
    (``products_kernel_descriptions_record``); this catches up the rest (a state made after the
    write, a restored kernel). Only a changed pair is written, so a second run writes nothing."""
    for key, entry in old.items():
        state = states.get(key)
        if state is None:
            continue  # a kernel entry with no product state keeps them only while it is kept
        summary, url = (entry.get(k) if isinstance(entry.get(k), str) else "" for k in ("summary", "url"))
        if (state.kernel_summary, state.kernel_url) != (summary, url):
            ProductState.objects.filter(pk=state.pk).update(kernel_summary=summary, kernel_url=url)


def _snapshots(*, space: Space, existing: list[dict]) -> list[dict]:
    # Names are matched by the product states' own key (``apps.products.names``), so the kernel
    # gets at most one entry per product, the one ``PUT /memory/identity`` then accepts back.
    # Product names are stored trimmed and NFC, so lower(name) is their key.
    rows = (
        ProductState.objects.filter(space=space)
        .annotate(key=Lower("name"))
        .only("name", "status", "kernel_summary", "kernel_url")
    )
    states = {p.key: p for p in rows}
    entries = [entry for entry in existing if isinstance(entry.get("name"), str)]
    old: dict[str, dict] = {}
    for key, entry in zip(product_name_keys(e["name"] for e in entries), entries, strict=True):
        old.setdefault(key, entry)  # a kernel stored before the rule may name a product twice
    _remember_descriptions(states=states, old=old)
    active = list(
        rows.exclude(status=ProductState.Status.ARCHIVED).order_by("-last_activity_at", "id")[:KERNEL_PRODUCTS_MAX]
    )
    snapshot = []
    for product in active:
        if product.key in old:
            kept = {k: v for k, v in old[product.key].items() if k in ("summary", "url")}
        else:  # back in the kernel (or new to it): what its entry had when it left
            kept = {k: v for k, v in (("summary", product.kernel_summary), ("url", product.kernel_url)) if v}
        snapshot.append({"name": product.name, "status": product.status, **kept})
    taken = {product.key for product in active}
    for key, entry in old.items():
        if len(snapshot) >= KERNEL_PRODUCTS_MAX:
            break
        if key not in taken:
            state = states.get(key)
            snapshot.append({**entry, "status": state.status} if state else entry)
    return snapshot


def _refresh_kernel(*, space: Space, actor: str) -> bool:
    # Locked before reading, so a concurrent kernel write cannot slip between read and write.
    kernel = Kernel.objects.select_for_update().filter(space=space).first()
    existing = (kernel.products if kernel else None) or []
    snapshot = _snapshots(space=space, existing=existing)
    if snapshot != existing and (snapshot or kernel is not None):
        kernel_update(space=space, changes={"products": snapshot or None}, actor=actor)
        return True
    if kernel is not None and kernel.block_key != block_key(personal_version=kernel.version):
        kernel_render(kernel=kernel)
        kernel.save(update_fields=["injection_block", "injection_tokens", "truncated", "block_key"])
        return True
    return False


# -- steps 1–4 together ---------------------------------------------------------------------------
def apply_steps(*, space: Space, product_id, narrowed: bool, actor: str) -> dict:
    """Steps 1–4 in the caller's transaction (which must hold ``lock_space``); returns their stats.

    ``narrowed``: only the product ``product_id`` (if it still exists) goes through steps 1–3.
    """
    stats = {"signals_applied": 0, "signals_ignored": 0, "decisions_merged": 0, "items_cleaned": 0}
    if not narrowed or product_id is not None:
        rows = ProductState.objects.select_for_update().filter(space=space).order_by("id")
        if narrowed:
            rows = rows.filter(pk=product_id)
        products = {p.pk: p for p in rows}
        drafts: dict = {}
        stats["signals_applied"], stats["signals_ignored"] = _apply_signals(
            space=space, products=products, drafts=drafts, product_id=product_id if narrowed else None
        )
        stats["decisions_merged"] = _merge_decisions(space=space, product_id=product_id if narrowed else None)
        for pk, product in products.items():
            draft = drafts.get(pk) or StateDraft.of(product)
            stats["items_cleaned"] += clean_draft(draft)
            changed = draft.changed_fields(product)
            if changed:
                for name in changed:
                    setattr(product, name, getattr(draft, name))
                product.version += 1
                product.save(update_fields=[*changed, "version", "updated_at"])
    stats["kernel_refreshed"] = _refresh_kernel(space=space, actor=actor)
    return stats


# -- step 5 ---------------------------------------------------------------------------------------
def compute_embeddings(*, space: Space, dry_run: bool, on_batch=None) -> int:
    """Missing vectors of the space's decisions and memories: computed now (or, for a dry run,
    counted). 0 without a provider, or when another run holds the space's embedding lock. A
    provider failure does not fail consolidation: the embedding task retries on its own, and if
    the broker cannot take it either, the rows stay pending for the periodic sweep.
    ``on_batch(count)`` runs in each stored batch's transaction (batches stored before a provider
    failure included), for a tally that survives a run lost later."""
    provider = provider_for_space(space)
    if provider is None:
        return 0
    if dry_run:
        return sum(_pending(target, space=space, provider=provider).count() for target in embedding_targets())
    try:
        counts = embeddings_compute_pending(space=space, on_batch=on_batch)
    except EmbeddingUnavailable as exc:
        logger.warning("consolidation: embeddings of space %s unavailable (%s); queued for retry", space.pk, exc)
        from apps.memory.tasks import embed_pending_on_commit

        # Robust, as every enqueue after a commit: steps 1–4 are committed, and a broker that is
        # down too must not turn the applied job into a failed one (the error is logged).
        embed_pending_on_commit(space=space)
        return 0
    return counts["decisions"] + counts["memories"]
