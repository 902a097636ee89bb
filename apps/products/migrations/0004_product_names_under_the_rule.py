"""Product names stored before the rule of ``apps.products.names`` brought under it.

The API used to store a name as sent once trimmed of whitespace and put in NFC, so a zero-width
space at its end, a BOM at its start or a right-to-left override inside were kept. Every lookup
now cleans the name it is given, so such a product could no longer be named: its GET was
NOT_FOUND or VALIDATION_ERROR, a write made a look-alike twin, and consolidation copied the name
into the kernel, which then refused its own content on PUT.

Each stored name is mapped as the rule reads names: NFC, invisible characters (Unicode's
Default_Ignorable_Code_Point, format characters) trimmed at its ends, those the rule refuses
inside removed (they are invisible: the visible text stays), trimmed again. When that name is
taken by another product of the space (compared as the unique index compares, ``lower(name)``),
the product keeps its data and gets the first free ``<name> (2)``, ``<name> (3)``…, oldest first;
a name of invisible characters alone becomes ``Unnamed product``. A renamed product's version is
bumped (its representation changed). The same mapping is applied where product names are held as
text, so they keep naming the same product: kernel layers' ``products[].name`` (one entry per
product, the first kept; a write with a revision by this migration), decisions'
``affects_products`` (one per product), and consolidation jobs' ``product_name``. Only rows that
hold one of the characters concerned, or are not NFC, are read (a regular expression in SQL), and
only rows whose text changes are written. Rules written out: a migration keeps its own.
"""

import unicodedata

import regex
from django.db import migrations
from django.db.models import F
from django.utils import timezone

NAME_MAX = 100
UNNAMED = "Unnamed product"
ACTOR = "migration:products.0004_product_names_under_the_rule"
SECTIONS = ("identity", "products", "constraints", "model_preferences")

# What apps.products.names reads, as of this migration.
_TAG_SEQUENCE = "\U0001f3f4[\U000e0020-\U000e007e]+\U000e007f"
_START = regex.compile(
    r"^[\s\x1c-\x1f\p{Cf}\p{Default_Ignorable_Code_Point}--\p{Prepended_Concatenation_Mark}]+", regex.V1
)
_END = regex.compile(
    rf"(?:({_TAG_SEQUENCE})|[\s\x1c-\x1f\p{{Cf}}\p{{Default_Ignorable_Code_Point}}--\p{{Variation_Selector}}])+\Z",
    regex.V1,
)
_INVISIBLE = regex.compile(r"[\p{Default_Ignorable_Code_Point}--[\u200c\u200d\p{Variation_Selector}]]", regex.V1)
_PIECES = regex.compile(f"({_TAG_SEQUENCE})")
# Every format (Cf) or default-ignorable code point, for PostgreSQL's regular expressions: a name
# without any of them, and in NFC, is already under the rule.
SUSPECT = (
    "[\\u00AD\\u034F\\u0600-\\u0605\\u061C\\u06DD\\u070F\\u0890-\\u0891\\u08E2\\u115F-\\u1160\\u17B4-\\u17B5"
    "\\u180B-\\u180F\\u200B-\\u200F\\u202A-\\u202E\\u2060-\\u206F\\u3164\\uFE00-\\uFE0F\\uFEFF\\uFFA0"
    "\\uFFF0-\\uFFFB\\U000110BD\\U000110CD\\U00013430-\\U0001343F\\U0001BCA0-\\U0001BCA3"
    "\\U0001D173-\\U0001D17A\\U000E0000-\\U000E0FFF]"
)
KEYS_SQL = "SELECT lower(n) FROM unnest(%s::text[]) WITH ORDINALITY AS t(n, i) ORDER BY i"


def _trim(text: str) -> str:
    text = _START.sub("", text)
    end = _END.search(text)
    return text if end is None else text[: max(end.ends(1), default=end.start())]


def under_the_rule(name: str) -> str:
    """``name`` as the rule reads it, with the invisible characters it refuses inside removed."""
    name = _trim(unicodedata.normalize("NFC", name))
    pieces = _PIECES.split(name)  # the tag sequences at odd indexes stay whole
    name = "".join(piece if i % 2 else _INVISIBLE.sub("", piece) for i, piece in enumerate(pieces))
    return _trim(unicodedata.normalize("NFC", name)[:NAME_MAX])


def _keys(cursor, names: list[str]) -> list[str]:
    if not names:
        return []
    cursor.execute(KEYS_SQL, [names])
    return [row[0] for row in cursor.fetchall()]


def _free_name(cursor, name: str, taken: set[str]) -> tuple[str, str]:
    """``name``, or the first ``name (n)`` whose key no product of the space has, and its key."""
    name = name or UNNAMED
    candidate, n = name, 1
    while True:
        (key,) = _keys(cursor, [candidate])
        if key not in taken:
            return candidate, key
        n += 1
        suffix = f" ({n})"
        candidate = _trim(name[: NAME_MAX - len(suffix)]) + suffix


def _rename_products(apps, cursor) -> dict:
    """Rename the products whose name the rule reads otherwise; {(space id, old key): new name}."""
    Product = apps.get_model("products", "ProductState")
    cursor.execute(
        "SELECT id, space_id, name, lower(name) FROM products_productstate"
        " WHERE name ~ %s OR NOT name IS NFC NORMALIZED ORDER BY space_id, created_at, id",
        [SUSPECT],
    )
    changes = [(pk, space, old, key, under_the_rule(old)) for pk, space, old, key in cursor.fetchall()]
    changes = [change for change in changes if change[4] != change[2]]
    renamed, taken, taken_space = {}, set(), None
    for pk, space, _old, old_key, name in changes:
        if space != taken_space:
            taken = set(Product.objects.filter(space_id=space).values_list("name", flat=True))
            taken, taken_space = set(_keys(cursor, sorted(taken))), space
        taken.discard(old_key)
        name, key = _free_name(cursor, name, taken)
        taken.add(key)
        Product.objects.filter(pk=pk).update(name=name, version=F("version") + 1)
        renamed[(space, old_key)] = name
    return renamed


def _mapped(cursor, space, names: list[str], renamed: dict) -> list:
    """Each of ``names`` mapped (a renamed product's new name), or None for a blank or a product an
    earlier name already names (one per product key, the first kept)."""
    mapped = [
        renamed.get((space, key)) or under_the_rule(name) for name, key in zip(names, _keys(cursor, names), strict=True)
    ]
    seen, kept = set(), []
    for name, key in zip(mapped, _keys(cursor, mapped), strict=True):
        kept.append(name if name and key not in seen else None)
        seen.add(key)
    return kept


def _suspects(model, column: str):
    """The rows whose ``column`` (text) holds a character concerned or is not NFC."""
    where = f"{column} ~ %s OR NOT {column} IS NFC NORMALIZED"
    return model.objects.extra(where=[where], params=[SUSPECT]).order_by("pk")  # noqa: S610 - constant SQL


def _map_kernels(apps, cursor, renamed: dict) -> None:
    Kernel = apps.get_model("identity", "Kernel")
    KernelRevision = apps.get_model("identity", "KernelRevision")
    for kernel in _suspects(Kernel, "products::text").iterator():
        if not isinstance(kernel.products, list):
            continue
        named = [isinstance(e, dict) and isinstance(e.get("name"), str) for e in kernel.products]
        names = [e["name"] for e, has in zip(kernel.products, named, strict=True) if has]
        mapped = iter(_mapped(cursor, kernel.space_id, names, renamed))
        products = []
        for entry, has in zip(kernel.products, named, strict=True):
            if not has:
                products.append(entry)
            elif (name := next(mapped)) is not None:
                products.append({**entry, "name": name})
        if products == kernel.products:
            continue
        kernel.products = products
        kernel.version += 1
        kernel.updated_at = timezone.now()
        kernel.save(update_fields=["products", "version", "updated_at"])
        KernelRevision.objects.create(
            kernel=kernel,
            version=kernel.version,
            snapshot={name: getattr(kernel, name) for name in SECTIONS},
            actor=ACTOR,
        )


def _map_decisions(apps, cursor, renamed: dict) -> None:
    Decision = apps.get_model("decisions", "Decision")
    rows = _suspects(Decision, "array_to_string(affects_products, ' ')")
    rows = rows.values_list("pk", "space_id", "affects_products")
    for pk, space, affects in rows.iterator():
        mapped = [name for name in _mapped(cursor, space, affects, renamed) if name is not None]
        if mapped != affects:
            Decision.objects.filter(pk=pk).update(affects_products=mapped)


def _map_jobs(apps) -> None:
    """A job names its product for display, and for a rerun narrowed to it."""
    Job = apps.get_model("memory", "ConsolidationJob")
    rows = _suspects(Job, "memory_consolidationjob.product_name")
    for pk, product_name, current in rows.values_list("pk", "product_name", "product__name"):
        name = current or under_the_rule(product_name)
        if name != product_name:
            Job.objects.filter(pk=pk).update(product_name=name)


def names_under_the_rule(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        renamed = _rename_products(apps, cursor)
        _map_kernels(apps, cursor, renamed)
        _map_decisions(apps, cursor, renamed)
    _map_jobs(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("products", "0003_kernel_description"),
        ("identity", "0005_admin_list_index"),
        ("decisions", "0013_decision_merged_into"),
        ("memory", "0008_admin_list_index"),
    ]

    operations = [migrations.RunPython(names_under_the_rule, migrations.RunPython.noop)]
