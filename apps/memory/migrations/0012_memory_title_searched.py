"""A generic memory's title (MIF ``metadata.title``, when a string) is searched: memory search
showed it as the memory's title, yet a query of it found nothing. ``services.search_document`` now
weighs it A, before the content, and the text typo tolerance compares begins with it
(``models.memory_typo_text``).

The stored documents of the memories with a title are built again here, as
``services.search_document`` builds them, in SQL (as 0006 built them): title A, content A, tags B,
type and entity names C, of their NFC form. Batches of ``BATCH_SIZE`` rows in the order of their
key, each its own statement and transaction (the migration is not atomic), so a big table is
neither rewritten in one statement nor locked for the whole of it. The typo text's trigram index
is replaced concurrently (writes go on meanwhile). Reversed, the documents are built again without
the title.
"""

import django.contrib.postgres.indexes
from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models

BATCH_SIZE = 1_000
# The bounds of apps.memory (models.MEMORY_TITLE_SEARCH_CHARS, models.TYPO_TEXT_MAX,
# services.MAX_ENTITY_SEARCH_CHARS), written out: a migration keeps its own.
TITLE_MAX, TYPO_TEXT_MAX, ENTITY_NAMES_MAX = 1_000, 2_000, 10_000
SEARCH_CONFIG = "english"

TITLED = "jsonb_typeof(metadata -> 'title') = 'string' AND metadata ->> 'title' <> ''"
TITLE = f"CASE WHEN jsonb_typeof(metadata -> 'title') = 'string' THEN left(metadata ->> 'title', {TITLE_MAX}) END"
ENTITY_NAMES = (
    "left(coalesce((SELECT string_agg(e->>'name', ' ' ORDER BY i)"
    " FROM jsonb_array_elements(CASE WHEN jsonb_typeof(entities) = 'array' THEN entities ELSE '[]' END)"
    " WITH ORDINALITY AS x(e, i) WHERE jsonb_typeof(e->'name') = 'string'), ''),"
    f" {ENTITY_NAMES_MAX})"
)


def document_sql(*, titled: bool) -> str:
    """``services.search_document`` of a row, with its title or (``titled=False``) as it was
    built before."""
    parts = [
        (f"coalesce({TITLE}, '')", "A"),
        ("content", "A"),
        ("array_to_string(tags, ' ')", "B"),
        (f"memory_type || ' ' || {ENTITY_NAMES}", "C"),
    ]
    return " || ".join(
        f"setweight(to_tsvector('{SEARCH_CONFIG}', normalize({text}, NFC)), '{weight}')"
        for text, weight in parts[0 if titled else 1 :]
    )


def _rebuild(schema_editor, *, titled: bool) -> None:
    update = f"UPDATE memory_memory SET search = {document_sql(titled=titled)} WHERE id = ANY(%s)"
    last = None
    with schema_editor.connection.cursor() as cursor:
        while True:
            after = "" if last is None else "AND id > %s"
            cursor.execute(
                f"SELECT id FROM memory_memory WHERE {TITLED} {after} ORDER BY id LIMIT {BATCH_SIZE}",
                [] if last is None else [last],
            )
            ids = [row[0] for row in cursor.fetchall()]
            if ids:
                cursor.execute(update, [ids])
            if len(ids) < BATCH_SIZE:
                return
            last = ids[-1]


def add_titles(apps, schema_editor):
    _rebuild(schema_editor, titled=True)


def remove_titles(apps, schema_editor):
    _rebuild(schema_editor, titled=False)


def _typo_text() -> models.Func:
    """``models.typo_text(models.memory_typo_text())``: the title and a space, then the content."""
    title = (
        "CASE WHEN jsonb_typeof(%(expressions)s -> 'title') = 'string'"
        f" THEN left(%(expressions)s ->> 'title', {TITLE_MAX}) || ' ' ELSE '' END"
    )
    text = models.Func(
        models.Func(models.F("metadata"), template=title, output_field=models.TextField()),
        models.F("content"),
        template="(%(expressions)s)",
        arg_joiner=" || ",
        output_field=models.TextField(),
    )
    return models.Func(text, template=f"left(%(expressions)s, {TYPO_TEXT_MAX})", output_field=models.TextField())


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("memory", "0011_product_search_text_skips_empty_fields")]

    operations = [
        migrations.RunPython(add_titles, remove_titles),
        AddIndexConcurrently(
            model_name="memory",
            index=django.contrib.postgres.indexes.GinIndex(
                models.F("space"),
                django.contrib.postgres.indexes.OpClass(_typo_text(), name="gin_trgm_ops"),
                name="memory_space_title_typo_trgm",
            ),
        ),
        RemoveIndexConcurrently(model_name="memory", name="memory_space_typo_trgm"),
    ]
