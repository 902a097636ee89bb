"""A BYOK key added to or removed from a personal space also renews the context stamps of the
people of every workspace its owner is a member of (synchronex/api/stamps.py): a workspace's
answers are redacted of every member's personal keys (``apps.memory.mif.export.space_secrets``),
so a co-member's remembered identity body depends on them too. A key of a workspace stamps that
workspace's people, as before (migration ``byok.0002``).

The locking discipline of migration ``api.0006``: the trigger locks every space whose people it
stamps FOR SHARE, in one statement in id order, before it reads the people, so a join to any of
them waits for the key change to commit or commits before the people are read. It takes no other
lock on the way (no user row): a join holds its space's row and then waits at most for its owner's
user row, whose holders (a change to that user) wait for nothing this trigger holds, so no cycle
forms. The personal space's row is only read: joins never lock it.

Which workspaces its owner is in is read before the lock: a membership of the key's owner that
commits meanwhile is not seen. That join stamps only the joiner (``api.0004``), so what the other
members remembered of that workspace waits for their next change in any case.
"""

from django.db import migrations

SQL = """
CREATE FUNCTION api_stamp_byok() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    spaces uuid[];
BEGIN
    -- The key's space and, when personal, each workspace its owner is a member of.
    spaces := ARRAY[OLD.space_id, NEW.space_id] || array(
        SELECT m.space_id FROM scopes_space p JOIN scopes_membership m ON m.user_id = p.owner_id
        WHERE p.id IN (OLD.space_id, NEW.space_id) AND p.kind = 'personal'
    );
    -- A join in flight commits first, and the people are read after it (migration api.0006).
    PERFORM 1 FROM scopes_space s WHERE s.id = ANY(spaces) ORDER BY s.id FOR SHARE;
    PERFORM api_stamp_users(array(SELECT unnest(api_space_people(x)) FROM unnest(spaces) AS x));
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS api_stamp ON byok_byokcredential;
CREATE TRIGGER api_stamp AFTER INSERT OR DELETE OR UPDATE OF secret, space_id ON byok_byokcredential
    FOR EACH ROW EXECUTE FUNCTION api_stamp_byok();
"""
REVERSE = """
DROP TRIGGER IF EXISTS api_stamp ON byok_byokcredential;
CREATE TRIGGER api_stamp AFTER INSERT OR DELETE OR UPDATE OF secret, space_id ON byok_byokcredential
    FOR EACH ROW EXECUTE FUNCTION api_stamp_kernel();
DROP FUNCTION IF EXISTS api_stamp_byok();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("api", "0006_joins_wait_for_stamping_changes"),
        ("byok", "0003_label_nfc"),
    ]

    operations = [migrations.RunSQL(SQL, REVERSE)]
