"""A BYOK key added to or removed from a space renews the context stamps of the space's owner and
members (synchronex/api/stamps.py), like a change to its kernel: the identity read's remembered
body has its injection block redacted of the keys the space held when it was built. A personal
key stamps its owner, whose workspace reads redact it too. Only the key matters, not its use:
``last_used_at`` changes stamp nobody."""

from django.db import migrations

SQL = """
CREATE TRIGGER api_stamp AFTER INSERT OR DELETE OR UPDATE OF secret, space_id ON byok_byokcredential
    FOR EACH ROW EXECUTE FUNCTION api_stamp_kernel();
"""
REVERSE = "DROP TRIGGER IF EXISTS api_stamp ON byok_byokcredential;"


class Migration(migrations.Migration):
    dependencies = [
        ("api", "0004_context_stamps"),
        ("byok", "0001_initial"),
    ]

    operations = [migrations.RunSQL(SQL, REVERSE)]
