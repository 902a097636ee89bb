"""``sx_jsonb_strings(jsonb)``: the string values of a JSON document as one text, for searching
JSON sections (kernel, product lists) with full-text and trigram matching and for snippets."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION sx_jsonb_strings(doc jsonb) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT string_agg(value #>> '{}', ' · ')
    FROM jsonb_path_query(doc, 'strict $.** ? (@.type() == "string")') AS value
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("memory", "0001_initial")]

    operations = [migrations.RunSQL(CREATE, reverse_sql="DROP FUNCTION IF EXISTS sx_jsonb_strings(jsonb);")]
