"""A product state's search text (what memory search cuts its snippets from) joins only the parts
that hold text: ``concat_ws`` skips NULL but not '', which a new product's handoff and summary
are, so its snippets ended in empty ' · ' separators ("**Orion** · active ·  · "). The stored
texts (kept by the triggers of 0007) are rewritten where they change."""

from django.db import migrations

FUNCTION = r"""
CREATE OR REPLACE FUNCTION sx_product_search_text(p products_productstate) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE AS $$  -- concat_ws is only STABLE
    SELECT concat_ws(' · ', {parts})
$$;
UPDATE memory_productsearch s SET text = sx_product_search_text(p)
FROM products_productstate p
WHERE p.id = s.product_id AND s.text IS DISTINCT FROM sx_product_search_text(p);
"""
PARTS = (
    "p.name",
    "p.status",
    "sx_jsonb_strings(p.what_works)",
    "sx_jsonb_strings(p.what_is_blocked)",
    "sx_jsonb_strings(p.open_questions)",
    "p.next_session_starts_here",
    "p.last_session_summary",
)


class Migration(migrations.Migration):
    dependencies = [
        ("memory", "0010_typo_text_indexes"),
    ]

    operations = [
        migrations.RunSQL(
            sql=FUNCTION.format(parts=", ".join(f"nullif({part}, '')" for part in PARTS)),
            reverse_sql=FUNCTION.format(parts=", ".join(PARTS)),
        ),
    ]
