"""Stored kernels keep one product name per product state key.

Kernel product names used to be compared with Python's casefold() and without NFC; they are now
compared by the product states' own key (trimmed, NFC, PostgreSQL's lower(): see
``apps.products.names``). A kernel stored before may name one product twice under that key (the
NFC and NFD spellings of "Café"; "İstanbul" and "Istanbul" where lower() maps "İ" to "i"), which
PUT and MIF import now refuse, so its own GET → PUT round trip would fail. Such a kernel keeps
the first entry of each product, as a write: a new version and a revision by this migration (the
cached block, now stale, is rendered again on the next read). No constraint is added, so no
existing row can make this fail; kernels without such pairs are left as they are.
"""

import unicodedata

from django.db import migrations
from django.utils import timezone

ACTOR = "migration:identity.0004_kernel_product_name_key"
SECTIONS = ("identity", "products", "constraints", "model_preferences")
# What apps.products.names.product_name_keys computes, written out: a migration keeps its own.
KEYS_SQL = "SELECT lower(n) FROM unnest(%s::text[]) WITH ORDINALITY AS t(n, i) ORDER BY i"


def _named(entry) -> bool:
    return isinstance(entry, dict) and isinstance(entry.get("name"), str)


def _one_per_key(cursor, products: list) -> list:
    names = [unicodedata.normalize("NFC", entry["name"]).strip() for entry in products if _named(entry)]
    cursor.execute(KEYS_SQL, [names])
    keys = iter([row[0] for row in cursor.fetchall()])
    seen, kept = set(), []
    for entry in products:
        if _named(entry):
            key = next(keys)
            if key in seen:
                continue
            seen.add(key)
        kept.append(entry)
    return kept


def one_name_per_product(apps, schema_editor):
    Kernel = apps.get_model("identity", "Kernel")
    KernelRevision = apps.get_model("identity", "KernelRevision")
    with schema_editor.connection.cursor() as cursor:
        for kernel in Kernel.objects.filter(products__isnull=False).order_by("pk").iterator():
            if not isinstance(kernel.products, list) or len(kernel.products) < 2:
                continue
            kept = _one_per_key(cursor, kernel.products)
            if kept == kernel.products:
                continue
            kernel.products = kept
            kernel.version += 1
            kernel.updated_at = timezone.now()
            kernel.save(update_fields=["products", "version", "updated_at"])
            KernelRevision.objects.create(
                kernel=kernel,
                version=kernel.version,
                snapshot={name: getattr(kernel, name) for name in SECTIONS},
                actor=ACTOR,
            )


class Migration(migrations.Migration):
    dependencies = [("identity", "0003_kernel_origin_id")]

    operations = [migrations.RunPython(one_name_per_product, migrations.RunPython.noop)]
