"""``sx_inner_words(tsvector, text[])``: a search document with query words found inside its words,
for scripts written without spaces (apps/memory/spaceless.py)."""

from django.db import migrations

# Each of ``words`` is added wherever a word of the document contains it, at that word's positions
# and with its weights, so that a query is evaluated and ranked as if the document had it:
# phrases, exclusions and the A/B/C weights hold as for any word. The document is edited as text
# (``'word':1A,5`` entries, a quote doubled and a backslash escaped in a word) and read back,
# which merges a word's positions: ``||`` would shift the added positions past the document's
# last one, and unnesting it took about twice as long (35-60 µs a row against 20, measured). It is
# returned as it is when its text holds none of the words.
CREATE = r"""
CREATE OR REPLACE FUNCTION sx_inner_words(document tsvector, words text[]) RETURNS tsvector
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    written text := document::text;
    found text := written;
    word text;
    quoted text;
BEGIN
    FOREACH word IN ARRAY words LOOP
        quoted := replace(replace(word, '\', '\\'), '''', '''''');
        IF strpos(written, quoted) > 0 THEN
            -- Each entry whose word holds it, followed by a copy of its positions under the word.
            found := regexp_replace(
                found,
                '''[^'']*' || regexp_replace(quoted, '([^[:alnum:]])', '\\\1', 'g') || '[^'']*'':([0-9A-D,]+)',
                '\& ''' || replace(quoted, '\', '\\') || ''':\1',
                'g');
        END IF;
    END LOOP;
    RETURN CASE WHEN found = written THEN document ELSE found::tsvector END;
END $$;
"""


class Migration(migrations.Migration):
    dependencies = [("memory", "0008_admin_list_index")]

    operations = [migrations.RunSQL(CREATE, reverse_sql="DROP FUNCTION IF EXISTS sx_inner_words(tsvector, text[]);")]
