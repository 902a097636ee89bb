"""Context stamps (see synchronex/api/stamps.py): a new stamp for every account whose requests a
committed change can affect, given by triggers in the changing transaction itself.

What an account's request remembers between requests is its active space (the space, the role)
and its effective Identity Kernel. Those read these tables: a user (its tier and limits decide a
workspace's plan for every member), a space, a membership, the stored active scope and a kernel
layer. A change to a space or a kernel layer stamps its owner and every member; a change to a user
stamps that user and the members of the workspaces they own. API keys are not among them: every
request reads its key afresh.

Stamps come from one sequence, so a stamp is never handed out twice, not even after a rollback;
accounts are stamped in id order within a statement, so two transactions never wait on each
other's stamp rows in opposite orders within one statement.
"""

from django.db import migrations, models

FUNCTIONS = """
CREATE SEQUENCE api_context_stamp_seq;

CREATE FUNCTION api_stamp_users(users uuid[]) RETURNS void LANGUAGE sql AS $$
    INSERT INTO api_contextstamp (user_id, stamp)
    SELECT d.u, nextval('api_context_stamp_seq')
    FROM (SELECT DISTINCT u FROM unnest(users) AS u WHERE u IS NOT NULL ORDER BY u) AS d
    ON CONFLICT (user_id) DO UPDATE SET stamp = EXCLUDED.stamp
$$;

-- The owner and every member of a space.
CREATE FUNCTION api_space_people(space uuid) RETURNS uuid[] LANGUAGE sql STABLE AS $$
    SELECT array(
        SELECT s.owner_id FROM scopes_space s WHERE s.id = space
        UNION SELECT m.user_id FROM scopes_membership m WHERE m.space_id = space
    )
$$;

CREATE FUNCTION api_stamp_space() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM api_stamp_users(api_space_people(OLD.id) || OLD.owner_id);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM api_stamp_users(api_space_people(NEW.id) || NEW.owner_id);
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION api_stamp_kernel() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM api_stamp_users(api_space_people(OLD.space_id));
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM api_stamp_users(api_space_people(NEW.space_id));
    END IF;
    RETURN NULL;
END $$;

-- Memberships and the stored active scope: the user of the row.
CREATE FUNCTION api_stamp_row_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM api_stamp_users(ARRAY[NEW.user_id]);
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM api_stamp_users(ARRAY[OLD.user_id]);
    ELSE
        PERFORM api_stamp_users(ARRAY[OLD.user_id, NEW.user_id]);
    END IF;
    RETURN NULL;
END $$;

-- A user: the user, and the members of the workspaces they own (the owner's plan is theirs).
CREATE FUNCTION api_stamp_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM api_stamp_users(ARRAY[OLD.id] || array(
        SELECT m.user_id FROM scopes_space s JOIN scopes_membership m ON m.space_id = s.id WHERE s.owner_id = OLD.id
    ));
    RETURN NULL;
END $$;

CREATE TRIGGER api_stamp AFTER INSERT OR UPDATE OR DELETE ON scopes_space
    FOR EACH ROW EXECUTE FUNCTION api_stamp_space();
CREATE TRIGGER api_stamp AFTER INSERT OR UPDATE OR DELETE ON identity_kernel
    FOR EACH ROW EXECUTE FUNCTION api_stamp_kernel();
CREATE TRIGGER api_stamp AFTER INSERT OR UPDATE OR DELETE ON scopes_membership
    FOR EACH ROW EXECUTE FUNCTION api_stamp_row_user();
CREATE TRIGGER api_stamp AFTER INSERT OR UPDATE OR DELETE ON scopes_activescope
    FOR EACH ROW EXECUTE FUNCTION api_stamp_row_user();
CREATE TRIGGER api_stamp AFTER UPDATE OR DELETE ON accounts_user
    FOR EACH ROW EXECUTE FUNCTION api_stamp_user();
"""

DROP = """
DROP TRIGGER IF EXISTS api_stamp ON scopes_space;
DROP TRIGGER IF EXISTS api_stamp ON identity_kernel;
DROP TRIGGER IF EXISTS api_stamp ON scopes_membership;
DROP TRIGGER IF EXISTS api_stamp ON scopes_activescope;
DROP TRIGGER IF EXISTS api_stamp ON accounts_user;
DROP FUNCTION IF EXISTS api_stamp_space(), api_stamp_kernel(), api_stamp_row_user(), api_stamp_user(),
    api_space_people(uuid), api_stamp_users(uuid[]);
DROP SEQUENCE IF EXISTS api_context_stamp_seq;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("api", "0003_btree_gin"),
        ("accounts", "0001_initial"),
        ("scopes", "0002_activescope_membership"),
        ("identity", "0003_kernel_origin_id"),
    ]

    operations = [
        migrations.CreateModel(
            name="ContextStamp",
            fields=[
                ("user_id", models.UUIDField(primary_key=True, serialize=False)),
                ("stamp", models.BigIntegerField()),
            ],
        ),
        migrations.RunSQL(sql=FUNCTIONS, reverse_sql=DROP),
    ]
