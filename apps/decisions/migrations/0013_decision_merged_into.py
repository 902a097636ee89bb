"""Which decisions consolidation merged into which, so that deleting a decision deletes its copies
instead of making the next copy current; merges made before this are found by their shape."""

import django.db.models.deletion
from django.db import migrations, models

# Consolidation recorded nothing of its merges until now, but they have a shape no other link has:
# a merge chains a product's duplicates under their oldest (first recorded) decision, so the
# successor was recorded before the decision it supersedes, while a decision superseded by hand
# (API, MCP, ingest) was always recorded before its successor. A run of such links ends at the
# survivor; each copy is still a duplicate of it (its text was never edited), which is checked as
# well, so a link that only looks inverted (clocks apart between web servers) is left alone.
BACKFILL_SQL = r"""
WITH RECURSIVE merge AS (
    SELECT d.id, s.id AS successor
      FROM decisions_decision d JOIN decisions_decision s ON s.id = d.superseded_by_id
     WHERE s.product_id = d.product_id AND (s.created_at, s.id) < (d.created_at, d.id)
), upward(id, top) AS (
    SELECT id, successor FROM merge
    UNION ALL
    SELECT upward.id, merge.successor FROM upward JOIN merge ON merge.id = upward.top
)
UPDATE decisions_decision AS d SET merged_into_id = s.id
  FROM upward JOIN decisions_decision s ON s.id = upward.top
 WHERE d.id = upward.id AND NOT EXISTS (SELECT 1 FROM merge WHERE merge.id = upward.top)
   AND (d.decision = s.decision OR similarity(normalize(d.decision, NFC), normalize(s.decision, NFC)) >= 0.9);
"""


class Migration(migrations.Migration):
    dependencies = [("decisions", "0012_decision_word_holders")]

    operations = [
        migrations.AddField(
            model_name="decision",
            name="merged_into",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="decisions.decision",
            ),
        ),
        migrations.RunSQL(sql=BACKFILL_SQL, reverse_sql=migrations.RunSQL.noop),
        migrations.AddIndex(
            model_name="decision",
            index=models.Index(
                condition=models.Q(("merged_into__isnull", False)), fields=["merged_into"], name="decision_merged_into"
            ),
        ),
    ]
