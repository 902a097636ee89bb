"""When each decision last changed (``Decision.updated_at``): the decisions there are changed since
they were made, and a trigger that sets it on every later change of a stored field or link, whatever
writes the row (a merge, a supersede, a splice on delete, an import, the admin)."""

import django.utils.timezone
from django.db import migrations, models

# Every column of a decision but its generated ones, its vector (computed later, no change of the
# decision), ``created_at`` (an import sets it after its insert) and ``updated_at`` itself.
TRACKED = (
    "space_id, product_id, origin_id, decision, reasoning, tags, affects_products, alternatives,"
    " supersedes_id, superseded_by_id, supersedes_pending, merged_into_id, merged_into_pending,"
    " decided_at, source"
)
OLD = ", ".join(f"OLD.{column.strip()}" for column in TRACKED.split(","))
NEW = ", ".join(f"NEW.{column.strip()}" for column in TRACKED.split(","))

TOUCH_SQL = f"""
UPDATE decisions_decision SET updated_at = created_at;

-- The time of the change itself (not of its transaction's start, which may precede an export
-- that then does not see it), so that an export ``since`` that export's time holds the change.
CREATE OR REPLACE FUNCTION sx_decision_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := clock_timestamp();
    RETURN NEW;
END $$;

CREATE TRIGGER decision_touch BEFORE UPDATE OF {TRACKED} ON decisions_decision
    FOR EACH ROW WHEN (({OLD}) IS DISTINCT FROM ({NEW})) EXECUTE FUNCTION sx_decision_touch();
"""

REVERSE_SQL = """
DROP TRIGGER IF EXISTS decision_touch ON decisions_decision;
DROP FUNCTION IF EXISTS sx_decision_touch();
"""


class Migration(migrations.Migration):
    dependencies = [("decisions", "0014_decision_merged_into_pending")]

    operations = [
        migrations.AddField(
            model_name="decision",
            name="updated_at",
            field=models.DateTimeField(default=django.utils.timezone.now, editable=False),
        ),
        migrations.RunSQL(sql=TOUCH_SQL, reverse_sql=REVERSE_SQL),
    ]
