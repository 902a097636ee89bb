"""A change to a space's embedding settings renews the context stamps of the space's owner and
members (synchronex/api/stamps.py), like a change to its kernel: the scoped accessor reads the
settings with the space and requests remember both while the stamp holds."""

from django.db import migrations

SQL = """
CREATE TRIGGER api_stamp AFTER INSERT OR UPDATE OR DELETE ON memory_embeddingsettings
    FOR EACH ROW EXECUTE FUNCTION api_stamp_kernel();
"""
REVERSE = "DROP TRIGGER IF EXISTS api_stamp ON memory_embeddingsettings;"


class Migration(migrations.Migration):
    dependencies = [
        ("api", "0004_context_stamps"),
        ("memory", "0004_space_leading_gin_indexes"),
    ]

    operations = [migrations.RunSQL(SQL, REVERSE)]
