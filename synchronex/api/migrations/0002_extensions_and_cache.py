"""PostgreSQL extensions the project relies on, and the cache table (see synchronex/api/cache.py)."""

from django.contrib.postgres.operations import CreateExtension, TrigramExtension
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("api", "0001_initial")]

    operations = [
        CreateExtension("vector"),
        TrigramExtension(),
        migrations.RunSQL(
            sql=(
                "CREATE UNLOGGED TABLE IF NOT EXISTS synchronex_cache ("
                " cache_key varchar(255) PRIMARY KEY,"
                " value bytea,"
                " counter bigint,"
                " expires timestamptz NOT NULL);"
                "CREATE INDEX IF NOT EXISTS synchronex_cache_expires ON synchronex_cache (expires);"
            ),
            reverse_sql="DROP TABLE IF EXISTS synchronex_cache;",
        ),
    ]
