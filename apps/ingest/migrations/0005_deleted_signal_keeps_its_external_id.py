"""The external ids of signals deleted in the admin stay taken: a resend is counted as a duplicate."""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("ingest", "0004_admin_list_index"),
        ("products", "0004_product_names_under_the_rule"),
    ]

    operations = [
        migrations.CreateModel(
            name="DeletedSignal",
            fields=[
                ("id", models.UUIDField(editable=False, primary_key=True, serialize=False)),
                (
                    "type",
                    models.CharField(
                        choices=[
                            ("commit", "commit"),
                            ("deploy", "deploy"),
                            ("ci", "ci"),
                            ("issue", "issue"),
                            ("error", "error"),
                            ("release", "release"),
                            ("note", "note"),
                            ("session_summary", "session_summary"),
                            ("decision", "decision"),
                            ("blocker", "blocker"),
                            ("unblocked", "unblocked"),
                            ("question", "question"),
                            ("ai_usage", "ai_usage"),
                        ],
                        max_length=32,
                    ),
                ),
                ("external_id", models.CharField(max_length=255)),
                ("deleted_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "product",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="deleted_signals",
                        to="products.productstate",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("product", "external_id"), name="deleted_signal_external_id_unique")
                ],
            },
        ),
    ]
