"""A BYOK key's change reads which workspaces its owner is in only after it has locked the key's
own space, so a join of the owner in flight is found (synchronex/api/stamps.py).

Migration ``byok.0004`` read the owner's workspaces first, then locked them: the owner's join to a
workspace that committed meanwhile was not seen, and once a join stamped only the joiner that did
not matter. A join now stamps everyone in the workspace (migration ``api.0007``), and the joiner's
personal keys are the workspace's secrets from then on: a co-member who read between the join's
commit and the key change's kept what they read (the key unredacted, or a removed key still
redacted) under a stamp the key change did not renew, since it had not seen the membership.

So the trigger first locks the key's space FOR SHARE, which a join of its owner holds FOR NO KEY
UPDATE (``api.0007``): either the join commits first and the next statement, with a new snapshot,
sees the membership, or the join waits for the key change to commit. Then, as before, it locks every
space whose people it stamps FOR SHARE in id order and stamps them. The order is the join's: the
personal space before any workspace.
"""

from django.db import migrations

SQL = """
CREATE OR REPLACE FUNCTION api_stamp_byok() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    spaces uuid[];
BEGIN
    -- A join of the key's owner in flight commits first (migration api.0007).
    PERFORM 1 FROM scopes_space s WHERE s.id IN (OLD.space_id, NEW.space_id) ORDER BY s.id FOR SHARE;
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
"""

REVERSE = """
CREATE OR REPLACE FUNCTION api_stamp_byok() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    spaces uuid[];
BEGIN
    spaces := ARRAY[OLD.space_id, NEW.space_id] || array(
        SELECT m.space_id FROM scopes_space p JOIN scopes_membership m ON m.user_id = p.owner_id
        WHERE p.id IN (OLD.space_id, NEW.space_id) AND p.kind = 'personal'
    );
    PERFORM 1 FROM scopes_space s WHERE s.id = ANY(spaces) ORDER BY s.id FOR SHARE;
    PERFORM api_stamp_users(array(SELECT unnest(api_space_people(x)) FROM unnest(spaces) AS x));
    RETURN NULL;
END $$;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("api", "0007_joins_and_leaves_stamp_the_workspace"),
        ("byok", "0004_personal_keys_stamp_co_members"),
    ]

    operations = [migrations.RunSQL(SQL, REVERSE)]
