"""The quota on PostgreSQL moves from two cache rows a request to one row per account
(``api.QuotaCount``, synchronex/api/quota_table.py). Unlogged, like the cache table: the counts
need speed, not crash durability. Counters left in the cache table expire with their windows."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("api", "0004_context_stamps"),
    ]

    operations = [
        migrations.CreateModel(
            name="QuotaCount",
            fields=[
                ("user_id", models.UUIDField(primary_key=True, serialize=False)),
                ("minute", models.BigIntegerField()),
                ("minute_count", models.BigIntegerField()),
                ("day", models.BigIntegerField()),
                ("day_count", models.BigIntegerField()),
            ],
        ),
        migrations.RunSQL("ALTER TABLE api_quotacount SET UNLOGGED", "ALTER TABLE api_quotacount SET LOGGED"),
    ]
