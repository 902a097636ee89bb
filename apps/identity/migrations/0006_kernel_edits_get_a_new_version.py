"""A kernel layer whose sections change without a new version gets one from the database, whatever
wrote it (plain SQL, a shell, a data fix): the version is what its cached renderings are keyed by.

The injection block cached on the layer (``block_key``: renderer and version) and each member's
effective block of a workspace (``EffectiveBlock``: both layers' ids and versions) are trusted while
the versions they name are current. An operator's ``UPDATE identity_kernel SET identity = …``
changed the sections under the same version, so the identity read and the kernel export handed the
AI the old block for good, next to the new sections, and an ``If-Match`` with the version read
before the edit still matched. Now such an update also moves ``version`` on by one and, unless it
set ``updated_at`` itself, sets that to the time of the change, as every write through the
application does (``kernel_update``); the next read renders the blocks again. An update that sets
``version`` itself is left as it wrote it, and no revision is stored for the edit (the history
lists what was written through the application).
"""

from django.db import migrations

SECTIONS = ("identity", "products", "constraints", "model_preferences")
OLD = ", ".join(f"OLD.{name}" for name in SECTIONS)
NEW = ", ".join(f"NEW.{name}" for name in SECTIONS)

SQL = f"""
CREATE FUNCTION identity_kernel_new_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.version := OLD.version + 1;
    IF NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
        NEW.updated_at := clock_timestamp();
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER kernel_new_version BEFORE UPDATE OF {", ".join(SECTIONS)} ON identity_kernel
    FOR EACH ROW WHEN (({OLD}) IS DISTINCT FROM ({NEW}) AND NEW.version = OLD.version)
    EXECUTE FUNCTION identity_kernel_new_version();
"""

REVERSE = """
DROP TRIGGER IF EXISTS kernel_new_version ON identity_kernel;
DROP FUNCTION IF EXISTS identity_kernel_new_version();
"""


class Migration(migrations.Migration):
    dependencies = [("identity", "0005_admin_list_index")]

    operations = [migrations.RunSQL(SQL, REVERSE)]
