"""When each product state was last written here (``stored_at``): by a MIF import, which keeps the
record's own ``created_at`` and ``updated_at``, or else when it was made here. ``since=`` exports
keep a row whose ``stored_at`` is since then, so a row imported today with a 2020 timestamp is in
``since=yesterday``.

Rows older than the column get this migration's time (the callable default, evaluated once): when
an earlier import wrote them is not known, and an export ``since`` a moment before the migration
then holds them once more rather than missing one that was imported then (a re-import of a row it
already holds is a duplicate, nothing else).
"""

import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("products", "0005_product_names_on_one_line"),
    ]

    operations = [
        migrations.AddField(
            model_name="productstate",
            name="stored_at",
            field=models.DateTimeField(default=django.utils.timezone.now, editable=False),
        ),
    ]
