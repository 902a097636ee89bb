"""``sx_searchable(text)``: a text whose words are all short enough for a search document.

PostgreSQL's parser drops a word of 2,047 bytes or more from a tsvector ("word is too long to be
indexed"), and a run of a script written without spaces (Chinese, Japanese, Thai…) is one word
to it (apps/memory/spaceless.py): 683 Chinese characters without punctuation are one, so a long
paragraph was found by no word of it. Each run of that many bytes of characters that are neither
space nor punctuation becomes pieces of 500 characters, a space between them, each starting 250
characters after the one before: at most 2,000 bytes each (four bytes a character at most), and
every part of the run of up to 251 characters lies whole inside one of them, where a query's word
is looked for (``sx_inner_words``). Any other text comes back as it is (the byte count is the
quick check), so documents of other texts do not change.

Punctuation here is a fixed set the parser ends a word at (ASCII's punctuation and symbols,
Latin-1's, General Punctuation, CJK and fullwidth punctuation), not ``[:punct:]``: under a UTF-8
locale that takes Thai tone marks (U+0E48) as punctuation, where the parser keeps them in the
word, so a long Thai run was never cut. A run may thus be longer than the parser's word (at an
emoji, say); its pieces are then cut by the parser again, and each word of it up to 251
characters is still whole in one piece.

The documents of product states and kernels (migration 0007's functions) and of memories
(``services.search_document``, the MIF writer) are made of the texts through it, and those
already stored that hold such a run are built again here (as 0012 built memories', in SQL). The
memories are read in batches of ``BATCH_SIZE`` in the order of their key; only a text of 2,047
bytes or more can hold a run that long, so most rows are skipped on their length.
"""

from django.db import migrations

BATCH_SIZE = 1_000
SEARCH_CONFIG = "english"
# The bounds of apps.memory (models.MEMORY_TITLE_SEARCH_CHARS, services.MAX_ENTITY_SEARCH_CHARS),
# written out as in 0012: a migration keeps its own.
TITLE_MAX, ENTITY_NAMES_MAX = 1_000, 10_000

FUNCTION = r"""
CREATE OR REPLACE FUNCTION sx_searchable(body text) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    letter constant text := '[^[:space:]\u0021-\u002F\u003A-\u0040\u005B-\u0060\u007B-\u007E\u00A0-\u00BF'
        '\u2000-\u206F\u3000-\u3004\u3008-\u3020\u3030-\u303F\uFE30-\uFE4F\uFF01-\uFF0F\uFF1A-\uFF20'
        '\uFF3B-\uFF40\uFF5B-\uFF65]';
    long_run constant text := letter || '{255}' || letter || '*';
    result text := '';
    pos int := 1;
    start int;
    run text;
    piece_at int;
BEGIN
    IF octet_length(body) < 2047 THEN
        RETURN body;
    END IF;
    LOOP
        start := regexp_instr(body, long_run, pos);
        EXIT WHEN start = 0;
        run := regexp_substr(body, long_run, pos);
        result := result || substr(body, pos, start - pos);
        IF octet_length(run) < 2047 THEN
            result := result || run;
        ELSE
            piece_at := 1;
            LOOP
                result := result || substr(run, piece_at, 500);
                EXIT WHEN piece_at + 500 > length(run);
                result := result || ' ';
                piece_at := piece_at + 250;
            END LOOP;
        END IF;
        pos := start + length(run);
    END LOOP;
    RETURN result || substr(body, pos);
END $$;
"""

DOCUMENTS = r"""
CREATE OR REPLACE FUNCTION sx_product_search_document(p products_productstate) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT setweight(to_tsvector('english', sx_searchable(coalesce(p.name, ''))), 'A')
        || setweight(to_tsvector('english', sx_searchable(coalesce(sx_jsonb_strings(p.what_works), '') || ' '
                                 || coalesce(sx_jsonb_strings(p.what_is_blocked), '') || ' '
                                 || coalesce(sx_jsonb_strings(p.open_questions), ''))), 'B')
        || setweight(to_tsvector('english', sx_searchable(coalesce(p.status, '') || ' '
                                 || coalesce(p.next_session_starts_here, '')
                                 || ' ' || coalesce(p.last_session_summary, ''))), 'C')
$$;
CREATE OR REPLACE FUNCTION sx_kernel_search_document(k identity_kernel) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT setweight(to_tsvector('english', sx_searchable(coalesce(sx_jsonb_strings(k.identity), ''))), 'A')
        || setweight(to_tsvector('english', sx_searchable(coalesce(sx_jsonb_strings(k.products), '') || ' '
                                 || coalesce(sx_jsonb_strings(k.constraints), ''))), 'B')
        || setweight(to_tsvector('english', sx_searchable(coalesce(sx_jsonb_strings(k.model_preferences), ''))), 'C')
$$;
"""
DOCUMENTS_BEFORE = r"""
CREATE OR REPLACE FUNCTION sx_product_search_document(p products_productstate) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT setweight(to_tsvector('english', coalesce(p.name, '')), 'A')
        || setweight(to_tsvector('english', coalesce(sx_jsonb_strings(p.what_works), '') || ' '
                                 || coalesce(sx_jsonb_strings(p.what_is_blocked), '') || ' '
                                 || coalesce(sx_jsonb_strings(p.open_questions), '')), 'B')
        || setweight(to_tsvector('english', coalesce(p.status, '') || ' ' || coalesce(p.next_session_starts_here, '')
                                 || ' ' || coalesce(p.last_session_summary, '')), 'C')
$$;
CREATE OR REPLACE FUNCTION sx_kernel_search_document(k identity_kernel) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT setweight(to_tsvector('english', coalesce(sx_jsonb_strings(k.identity), '')), 'A')
        || setweight(to_tsvector('english', coalesce(sx_jsonb_strings(k.products), '') || ' '
                                 || coalesce(sx_jsonb_strings(k.constraints), '')), 'B')
        || setweight(to_tsvector('english', coalesce(sx_jsonb_strings(k.model_preferences), '')), 'C')
$$;
"""
# Rows whose searched texts are long enough to hold such a run, built again by the functions.
REBUILD = r"""
UPDATE memory_productsearch s SET document = sx_product_search_document(p)
  FROM products_productstate p
 WHERE s.product_id = p.id AND octet_length(sx_product_search_text(p)) >= 2047;
UPDATE memory_kernelsearch s SET document = sx_kernel_search_document(k)
  FROM identity_kernel k
 WHERE s.kernel_id = k.id AND octet_length(sx_kernel_search_text(k)) >= 2047;
"""

TITLE = f"CASE WHEN jsonb_typeof(metadata -> 'title') = 'string' THEN left(metadata ->> 'title', {TITLE_MAX}) END"
ENTITY_NAMES = (
    "left(coalesce((SELECT string_agg(e->>'name', ' ' ORDER BY i)"
    " FROM jsonb_array_elements(CASE WHEN jsonb_typeof(entities) = 'array' THEN entities ELSE '[]' END)"
    " WITH ORDINALITY AS x(e, i) WHERE jsonb_typeof(e->'name') = 'string'), ''),"
    f" {ENTITY_NAMES_MAX})"
)
MEMORY_TEXTS = [
    (f"coalesce({TITLE}, '')", "A"),
    ("content", "A"),
    ("array_to_string(tags, ' ')", "B"),
    (f"memory_type || ' ' || {ENTITY_NAMES}", "C"),
]


def memory_document_sql(*, searchable: bool) -> str:
    """``services.search_document`` of a row in SQL (as 0012), its texts through ``sx_searchable``
    or (``searchable=False``) as before."""
    wrap = "sx_searchable({})" if searchable else "{}"
    return " || ".join(
        f"setweight(to_tsvector('{SEARCH_CONFIG}', {wrap.format(f'normalize({text}, NFC)')}), '{weight}')"
        for text, weight in MEMORY_TEXTS
    )


def _rebuild_memories(schema_editor, *, searchable: bool) -> None:
    long_text = " OR ".join(f"octet_length({text}) >= 2047" for text, _ in MEMORY_TEXTS)
    update = (
        f"UPDATE memory_memory SET search = {memory_document_sql(searchable=searchable)}"
        f" WHERE id = ANY(%s) AND ({long_text})"
    )
    last = None
    with schema_editor.connection.cursor() as cursor:
        while True:
            after = "" if last is None else "WHERE id > %s"
            cursor.execute(
                f"SELECT id FROM memory_memory {after} ORDER BY id LIMIT {BATCH_SIZE}", [] if last is None else [last]
            )
            ids = [row[0] for row in cursor.fetchall()]
            if ids:
                cursor.execute(update, [ids])
            if len(ids) < BATCH_SIZE:
                return
            last = ids[-1]


def forwards(apps, schema_editor):
    _rebuild_memories(schema_editor, searchable=True)


def backwards(apps, schema_editor):
    _rebuild_memories(schema_editor, searchable=False)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("memory", "0012_memory_title_searched")]

    operations = [
        migrations.RunSQL(FUNCTION, reverse_sql=migrations.RunSQL.noop),
        migrations.RunSQL(DOCUMENTS + REBUILD, reverse_sql=DOCUMENTS_BEFORE + REBUILD),
        migrations.RunPython(forwards, backwards),
        migrations.RunSQL(migrations.RunSQL.noop, reverse_sql="DROP FUNCTION IF EXISTS sx_searchable(text);"),
    ]
