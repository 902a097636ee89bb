"""Which decisions consolidation merged into which, so that deleting a decision deletes its copies
instead of making the next copy current; merges made before this are found by their shape."""

import django.db.models.deletion
from django.db import migrations, models

# Consolidation recorded nothing of its merges until now, but they have a shape no other link has:
# a merge puts a product's duplicates below their survivor, its oldest (first recorded) decision,
# in its chain (the survivor's earlier predecessor moves below them, and a second merge puts new
# copies above the first ones), while a decision superseded by hand (API, MCP, ingest) was always
# recorded before its successor. So each current decision's chain is walked down from it: a
# decision below the head of the run, recorded after it, of its product and a duplicate of it as
# consolidation compares them (the same text ignoring case, spacing and final punctuation, in NFC,
# or trigram similarity >= 0.9; a copy's text was never edited) is a copy merged into that head.
# Any other decision ends the run and heads the next one (a merge into a decision that was later
# superseded by hand is found below it), so a same-text decision superseded by hand, or a link
# that only looks inverted (clocks apart between web servers) with another text, is left alone.
BACKFILL_SQL = r"""
WITH RECURSIVE run(id, head) AS (
    SELECT id, id FROM decisions_decision WHERE superseded_by_id IS NULL AND supersedes_id IS NOT NULL
    UNION ALL
    SELECT below.id, CASE
           WHEN below.product_id = head.product_id AND (head.created_at, head.id) < (below.created_at, below.id)
            AND (similarity(below.decision, head.decision) >= 0.9
                 OR regexp_replace(lower(regexp_replace(btrim(normalize(below.decision, NFC)), '\s+', ' ', 'g')),
                                   '[[:space:][:punct:]]+$', '')
                  = regexp_replace(lower(regexp_replace(btrim(normalize(head.decision, NFC)), '\s+', ' ', 'g')),
                                   '[[:space:][:punct:]]+$', ''))
           THEN head.id ELSE below.id END
      FROM run
      JOIN decisions_decision above ON above.id = run.id
      JOIN decisions_decision below ON below.id = above.supersedes_id
      JOIN decisions_decision head ON head.id = run.head
)
UPDATE decisions_decision AS d SET merged_into_id = run.head FROM run WHERE d.id = run.id AND run.head <> run.id;
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
