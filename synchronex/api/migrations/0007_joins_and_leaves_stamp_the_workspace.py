"""Someone joining or leaving a workspace renews the context stamps of everyone in it, not only
their own (synchronex/api/stamps.py).

What a workspace hands out is redacted of its own BYOK keys and of every current member's personal
keys (``apps.memory.mif.export.space_secrets``), so the identity read's body another member
remembered depends on who the members are: a join left a co-member's remembered block showing the
joiner's key that the kernel export of the same workspace redacted, and a leave left it redacting
a key that is no longer the workspace's. Whatever writes the membership (the API, the admin, plain
SQL), a membership inserted or deleted, or moved to another space or user, now stamps the people
of its space (old and new) and its user; a role change still stamps only the member, the one whose
remembered values depend on it.

Locks (the discipline of migration ``api.0006``):

- A leave locks its space's row FOR SHARE before it reads the people, as every other change that
  stamps them does, so a join in flight commits first and the joiner is stamped too (otherwise the
  joiner, who read the leaver as a member in between, kept redacting the leaver's keys).
- A join also locks the joiner's personal space FOR NO KEY UPDATE, before the workspace's row, so
  a change of the joiner's personal keys (migration ``byok.0005``, which locks that space FOR SHARE
  before it reads which workspaces its owner is in) either waits for the join and finds the
  workspace, or is waited for and is seen by everyone the join stamps. The owner's own membership
  (a new workspace) takes no such lock, for the reason it takes no user lock (``api.0006``): the
  owner is stamped by any change of their keys anyway, and there is nobody else to stamp yet.
"""

from django.db import migrations

SQL = """
CREATE OR REPLACE FUNCTION api_lock_join() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    space_owner uuid;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.space_id = OLD.space_id AND NEW.user_id = OLD.user_id THEN
        RETURN NEW;  -- a role change: nobody joins
    END IF;
    SELECT s.owner_id INTO space_owner FROM scopes_space s WHERE s.id = NEW.space_id;
    IF space_owner IS DISTINCT FROM NEW.user_id THEN
        -- The joiner's personal keys become the workspace's secrets (migration byok.0005).
        PERFORM 1 FROM scopes_space p WHERE p.owner_id = NEW.user_id AND p.kind = 'personal' FOR NO KEY UPDATE;
    END IF;
    SELECT s.owner_id INTO space_owner FROM scopes_space s WHERE s.id = NEW.space_id FOR NO KEY UPDATE;
    IF space_owner <> NEW.user_id THEN
        PERFORM 1 FROM accounts_user u WHERE u.id = space_owner FOR SHARE;
    END IF;
    RETURN NEW;
END $$;

CREATE FUNCTION api_stamp_membership() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.space_id = OLD.space_id AND NEW.user_id = OLD.user_id THEN
        PERFORM api_stamp_users(ARRAY[NEW.user_id]);  -- a role change
        RETURN NULL;
    END IF;
    -- A join in flight commits first, and the people are read after it (migration api.0006).
    PERFORM 1 FROM scopes_space s WHERE s.id IN (OLD.space_id, NEW.space_id) ORDER BY s.id FOR SHARE;
    PERFORM api_stamp_users(
        array(SELECT unnest(api_space_people(x)) FROM unnest(ARRAY[OLD.space_id, NEW.space_id]) AS x)
        || ARRAY[OLD.user_id, NEW.user_id]
    );
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS api_stamp ON scopes_membership;
CREATE TRIGGER api_stamp AFTER INSERT OR UPDATE OR DELETE ON scopes_membership
    FOR EACH ROW EXECUTE FUNCTION api_stamp_membership();
"""

REVERSE = """
DROP TRIGGER IF EXISTS api_stamp ON scopes_membership;
CREATE TRIGGER api_stamp AFTER INSERT OR UPDATE OR DELETE ON scopes_membership
    FOR EACH ROW EXECUTE FUNCTION api_stamp_row_user();
DROP FUNCTION IF EXISTS api_stamp_membership();

CREATE OR REPLACE FUNCTION api_lock_join() RETURNS trigger LANGUAGE plpgsql AS $$
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
"""


class Migration(migrations.Migration):
    dependencies = [
        ("api", "0006_joins_wait_for_stamping_changes"),
    ]

    operations = [migrations.RunSQL(SQL, REVERSE)]
