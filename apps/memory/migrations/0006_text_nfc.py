"""Stored text in NFC, as the API now stores it (``synchronex.text``).

Text used to be stored in whatever Unicode form the client sent, so the composed (NFC) and
decomposed (NFD) spellings of one text were different text to search, to consolidation's list
items and to its duplicate decisions. The API now normalises text on input and searches with NFC
queries; this migration normalises the rows stored before, and only those: every statement
selects its rows with ``IS NOT NFC NORMALIZED``, so a table without such text costs one read and
no write.

- decisions: ``decision``, ``reasoning``, ``tags`` (a tag met twice once NFC is kept once) and
  ``alternatives``; the search document is a generated column and the DecisionWord triggers
  follow the update;
- signals: ``title``, ``body`` and a session summary's ``data.next_session_starts_here`` (its
  other ``data`` is kept as sent); the search document is generated;
- product states: the three lists (JSON), the handoff and the last session summary — as a write:
  a new version, so an ``If-Match`` of the old text fails;
- kernel layers: the strings of the four sections, keys included (JSON) — as a write: a new
  version and a revision by this migration (as identity.0004); the cached blocks, keyed by the
  version, are rendered again on the next read;
- generic memories keep their text as sent (the MIF round trip is byte for byte); their search
  document is made again from its NFC form, as ``memory_create`` now makes it.

JSON is normalised string by string in Python (few rows need it): normalising a document's text
would also join an escape to a combining mark after it (``\\n`` + U+0303 → ``\\ñ``). A text that
NFC would make longer than its column's bound (a few characters, such as U+0958, decompose) is
left as it is rather than fail the migration; comparisons normalise it anyway. A database that is
not UTF8 has no normalisation in PostgreSQL, and is left alone.
"""

import unicodedata

from django.db import migrations
from django.db.models import F
from django.utils import timezone

ACTOR = "migration:memory.0006_text_nfc"
SECTIONS = ("identity", "products", "constraints", "model_preferences")
PRODUCT_LISTS = ("what_works", "what_is_blocked", "open_questions")
PRODUCT_TEXTS = ("next_session_starts_here", "last_session_summary")
# The bounds the columns hold (apps.decisions.models, apps.ingest.models), written out: a
# migration keeps its own.
DECISION_MAX, REASONING_MAX, TAG_MAX, TITLE_MAX, BODY_MAX = 2_000, 10_000, 50, 2_000, 10_000
ENTITY_NAMES_MAX = 10_000  # apps.memory.services.MAX_ENTITY_SEARCH_CHARS
SEARCH_CONFIG = "english"


def _fit(column: str, bound: int) -> str:
    """``column`` in NFC, or as it is where that would pass ``bound`` characters."""
    return (
        f"CASE WHEN {column} IS NFC NORMALIZED OR char_length(normalize({column}, NFC)) > {bound}"
        f" THEN {column} ELSE normalize({column}, NFC) END"
    )


def _fit_array(column: str, bound: int | None = None, *, once: bool = False) -> str:
    """Each element of the text array ``column`` in NFC (within ``bound``), in order; ``once``
    keeps the first of equal elements."""
    element = "normalize(v, NFC)" if bound is None else _fit("v", bound)
    elements = f"SELECT {element} AS n, i FROM unnest({column}) WITH ORDINALITY AS u(v, i)"
    if once:
        elements = f"SELECT n, min(i) AS i FROM ({elements}) e GROUP BY n"
    return (
        f"CASE WHEN array_to_string({column}, ' ') IS NFC NORMALIZED THEN {column}"
        f" ELSE ARRAY(SELECT n FROM ({elements}) o ORDER BY i) END"
    )


def _not_nfc(*texts: str) -> str:
    return " OR ".join(f"({text}) IS NOT NFC NORMALIZED" for text in texts)


TAGS, ALTERNATIVES = "array_to_string(tags, ' ')", "array_to_string(alternatives, ' ')"
HANDOFF = "data->>'next_session_starts_here'"
HAS_HANDOFF = "type = 'session_summary' AND jsonb_typeof(data->'next_session_starts_here') = 'string'"

DECISIONS_SQL = (
    f"UPDATE decisions_decision SET decision = {_fit('decision', DECISION_MAX)},"
    f" reasoning = {_fit('reasoning', REASONING_MAX)}, tags = {_fit_array('tags', TAG_MAX, once=True)},"
    f" alternatives = {_fit_array('alternatives')}"
    f" WHERE {_not_nfc('decision', 'reasoning', TAGS, ALTERNATIVES)}"
)

SIGNALS_SQL = (
    f"UPDATE ingest_signal SET title = {_fit('title', TITLE_MAX)}, body = {_fit('body', BODY_MAX)},"
    f" data = CASE WHEN {HAS_HANDOFF} AND ({HANDOFF}) IS NOT NFC NORMALIZED"
    f" THEN jsonb_set(data, '{{next_session_starts_here}}', to_jsonb(normalize({HANDOFF}, NFC))) ELSE data END"
    f" WHERE {_not_nfc('title', 'body')} OR ({HAS_HANDOFF} AND ({HANDOFF}) IS NOT NFC NORMALIZED)"
)

# apps.memory.services.search_document, in SQL: content A, tags B, type and entity names C, of
# their NFC form.
ENTITY_NAMES = (
    "left(coalesce((SELECT string_agg(e->>'name', ' ' ORDER BY i)"
    " FROM jsonb_array_elements(CASE WHEN jsonb_typeof(entities) = 'array' THEN entities ELSE '[]' END)"
    " WITH ORDINALITY AS x(e, i) WHERE jsonb_typeof(e->'name') = 'string'), ''),"
    f" {ENTITY_NAMES_MAX})"
)
MEMORIES_SQL = (
    "UPDATE memory_memory SET search ="
    f" setweight(to_tsvector('{SEARCH_CONFIG}', normalize(content, NFC)), 'A')"
    f" || setweight(to_tsvector('{SEARCH_CONFIG}', normalize({TAGS}, NFC)), 'B')"
    f" || setweight(to_tsvector('{SEARCH_CONFIG}', normalize(memory_type || ' ' || {ENTITY_NAMES}, NFC)), 'C')"
    f" WHERE {_not_nfc('content', TAGS, 'memory_type', 'entities::text')}"
)

PRODUCTS_SQL = "SELECT id FROM products_productstate WHERE " + _not_nfc(
    *(f"{name}::text" for name in PRODUCT_LISTS), *PRODUCT_TEXTS
)
KERNELS_SQL = "SELECT id FROM identity_kernel WHERE " + _not_nfc(*(f"{name}::text" for name in SECTIONS))


def _nfc(value):
    """A JSON value with every string (object keys too: the first of equal keys is kept) in NFC."""
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, list):
        return [_nfc(item) for item in value]
    if isinstance(value, dict):
        kept: dict = {}
        for key, item in value.items():
            kept.setdefault(_nfc(key), _nfc(item))
        return kept
    return value


def _ids(cursor, sql: str) -> list:
    cursor.execute(sql)
    return [row[0] for row in cursor.fetchall()]


def normalise_text(apps, schema_editor):
    ProductState = apps.get_model("products", "ProductState")
    Kernel = apps.get_model("identity", "Kernel")
    KernelRevision = apps.get_model("identity", "KernelRevision")
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SHOW server_encoding")
        if cursor.fetchone()[0] != "UTF8":
            return
        for sql in (DECISIONS_SQL, SIGNALS_SQL, MEMORIES_SQL):
            cursor.execute(sql)
        product_ids = _ids(cursor, PRODUCTS_SQL)
        kernel_ids = _ids(cursor, KERNELS_SQL)
    now = timezone.now()
    for product in ProductState.objects.filter(pk__in=product_ids).only("pk", *PRODUCT_LISTS, *PRODUCT_TEXTS):
        changes = {name: _nfc(getattr(product, name)) for name in (*PRODUCT_LISTS, *PRODUCT_TEXTS)}
        if any(changes[name] != getattr(product, name) for name in changes):
            ProductState.objects.filter(pk=product.pk).update(**changes, version=F("version") + 1, updated_at=now)
    for kernel in Kernel.objects.filter(pk__in=kernel_ids).order_by("pk"):
        sections = {name: _nfc(getattr(kernel, name)) for name in SECTIONS}
        if all(sections[name] == getattr(kernel, name) for name in SECTIONS):
            continue
        for name, value in sections.items():
            setattr(kernel, name, value)
        kernel.version += 1
        kernel.updated_at = now
        kernel.save(update_fields=[*SECTIONS, "version", "updated_at"])
        KernelRevision.objects.create(kernel=kernel, version=kernel.version, snapshot=sections, actor=ACTOR)


class Migration(migrations.Migration):
    dependencies = [
        ("memory", "0005_embedding_settings_stamp"),
        ("decisions", "0009_decision_words"),
        ("ingest", "0003_signal_goes_with_its_decision"),
        ("products", "0002_productstate_origin_id"),
        ("identity", "0004_kernel_product_name_key"),
    ]

    operations = [migrations.RunPython(normalise_text, migrations.RunPython.noop)]
