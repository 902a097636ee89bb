"""BYOK labels in NFC, as the API now stores them (``apps.products.api.fields.StrictString``).

Labels used to be stored as sent, so the composed (NFC) and decomposed (NFD) spellings of one
label were two labels to the unique key per service (``lower(label)``), and a decomposed label
counted more characters against its bound. This normalises the labels stored before, oldest
first, each in a savepoint of its own. A label is left as it is, never renamed or suffixed, and
the migration goes on, when its NFC form would pass 100 characters, or when another credential of
the same service in the space already holds that form in any case (the unique index refuses the
update): both stay listed as before, and a new label in either spelling conflicts with the one in
NFC. A base URL is not rewritten: it is compared in NFC (``apps.byok.services._endpoint``).
"""

import unicodedata

from django.db import IntegrityError, migrations, transaction

LABEL_MAX = 100  # apps.byok.models.LABEL_MAX, written out: a migration keeps its own


def normalise_labels(apps, schema_editor):
    Credential = apps.get_model("byok", "ByokCredential")
    rows = Credential.objects.order_by("created_at", "id").values_list("id", "label")
    for pk, label in [(pk, label) for pk, label in rows if not unicodedata.is_normalized("NFC", label)]:
        normal = unicodedata.normalize("NFC", label)
        if len(normal) > LABEL_MAX:
            continue
        try:
            with transaction.atomic():
                Credential.objects.filter(pk=pk).update(label=normal)
        except IntegrityError:
            continue  # another credential of the service holds that label: both are kept as they are


class Migration(migrations.Migration):
    dependencies = [("byok", "0002_context_stamp")]

    operations = [migrations.RunPython(normalise_labels, migrations.RunPython.noop)]
