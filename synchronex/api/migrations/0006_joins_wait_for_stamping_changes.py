"""A member's join and a change that stamps the people of the member's space take turns
(synchronex/api/stamps.py).

The triggers of migration ``api.0004`` stamp the people they see: a kernel layer, a space's
embedding settings or BYOK keys (``api_stamp_kernel``) and the space itself stamp its owner and
members; a user stamps the members of the workspaces they own. Under READ COMMITTED a trigger does
not see a membership that commits after it ran. When that membership also committed before the
change did, the new member read the old value in between and remembered it under a stamp that
nothing renewed: stale, in every process that served the read, until some unrelated change.

So both sides take row locks that conflict:

- a join (a membership inserted, or moved to another space or user) locks its space's row FOR NO
  KEY UPDATE and, unless the member is the owner, the owner's user row FOR SHARE, before the row
  is written;
- ``api_stamp_kernel`` locks its space's row FOR SHARE before it reads the people; a change to a
  space or a user already holds that row's lock (an UPDATE or DELETE takes it).

A join therefore either waits for the change to commit (and any read that sees the member sees
the change), or commits before the change reads the people (the next statement of the trigger
takes a new snapshot and sees it). FOR SHARE does not conflict with itself nor with the FOR KEY
SHARE of foreign-key checks: writes to one space's kernel, settings and keys do not queue behind
each other, and rows that point at the space (decisions, signals, states) are written as before.
The owner's own membership (a new workspace) takes no user lock: a change to the owner's row
stamps the owner anyway, and ``workspace_create`` has stamped the owner (with the space) before
it adds that membership, so waiting there for a change to the owner's row, which waits for that
stamp, would be a lock cycle. Leaving needs no lock: a change that also stamps someone who has
just left does no harm.
"""

from django.db import migrations

SQL = """
CREATE OR REPLACE FUNCTION api_stamp_kernel() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- A join in flight commits first, and the people are read after it (migration api.0006).
    PERFORM 1 FROM scopes_space s WHERE s.id IN (OLD.space_id, NEW.space_id) ORDER BY s.id FOR SHARE;
    IF TG_OP <> 'INSERT' THEN
        PERFORM api_stamp_users(api_space_people(OLD.space_id));
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM api_stamp_users(api_space_people(NEW.space_id));
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION api_lock_join() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    space_owner uuid;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.space_id = OLD.space_id AND NEW.user_id = OLD.user_id THEN
        RETURN NEW;  -- a role change: nobody joins
    END IF;
    SELECT s.owner_id INTO space_owner FROM scopes_space s WHERE s.id = NEW.space_id FOR NO KEY UPDATE;
    IF space_owner <> NEW.user_id THEN
        PERFORM 1 FROM accounts_user u WHERE u.id = space_owner FOR SHARE;
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER api_stamp_join BEFORE INSERT OR UPDATE OF space_id, user_id ON scopes_membership
    FOR EACH ROW EXECUTE FUNCTION api_lock_join();
"""

REVERSE = """
DROP TRIGGER IF EXISTS api_stamp_join ON scopes_membership;
DROP FUNCTION IF EXISTS api_lock_join();

CREATE OR REPLACE FUNCTION api_stamp_kernel() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM api_stamp_users(api_space_people(OLD.space_id));
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM api_stamp_users(api_space_people(NEW.space_id));
    END IF;
    RETURN NULL;
END $$;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("api", "0005_quota_counts"),
    ]

    operations = [migrations.RunSQL(SQL, REVERSE)]
