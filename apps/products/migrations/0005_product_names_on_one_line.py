"""Product names stored before the one-line rule brought under it.

The rule of ``apps.products.names`` now refuses U+2028 LINE SEPARATOR and U+2029 PARAGRAPH
SEPARATOR inside a name (``line_break_problem``), which an earlier release stored as sent. Every
lookup applies the rule to the name it is given, so such a product could no longer be named by a
path, a body or an MCP argument: its state could not be read by name or written, nor its decisions
filtered.

Each separator inside a stored name, with the whitespace around it, becomes one space: the name as
the kernel export and decisions' text printed it (``synchronex.rendering.one_line``). Then as in
``products.0004``: when that name is taken by another product of the space (compared as the unique
index compares, ``lower(name)``), the product keeps its data and gets the first free
``<name> (2)``, ``<name> (3)``…, oldest first. A renamed product's version is bumped and its
``updated_at`` set (its representation changed: an export ``since=`` holds it). The same mapping is
applied where product names are held as text, so they keep naming the same product: kernel
layers' ``products[].name`` (one entry per product, the first kept; a write with a revision by
this migration), decisions' ``affects_products`` (one per product; ``affects_keys`` is generated
from it, and ``updated_at`` stamped by the trigger of ``decisions.0015``) and consolidation jobs'
``product_name``. Only rows that hold a separator are read (a regular expression in SQL), and only
rows whose text changes are written.

Workspace names are not mapped: a workspace is named by its id on every path, so one holding a
separator can still be reached, and its name is printed in no export.
Rules written out (the trim taken from ``products.0004``): a migration keeps its own.
"""

import importlib
import re
import unicodedata

from django.db import migrations
from django.db.models import F
from django.utils import timezone

NAME_MAX = 100
ACTOR = "migration:products.0005_product_names_on_one_line"
SECTIONS = ("identity", "products", "constraints", "model_preferences")

# A separator and the whitespace around it (Python's ``\s`` holds both separators: a run of them is one).
_SEPARATOR = re.compile(r"\s*[\u2028\u2029]\s*")
# The same characters for PostgreSQL's regular expressions: a name without one is left as it is.
SUSPECT = "[\\u2028\\u2029]"
KEYS_SQL = "SELECT lower(n) FROM unnest(%s::text[]) WITH ORDINALITY AS t(n, i) ORDER BY i"
# The ends trimmed as products.0004 trims them (a name cut for its ``(n)`` may end in a ZWJ).
_trim = importlib.import_module("apps.products.migrations.0004_product_names_under_the_rule")._trim


def on_one_line(name: str) -> str:
    """``name`` with each separator and the whitespace around it as one space. The earlier rule
    trimmed whitespace (the separators are) at the ends, so only inside ones are met; the space
    put in a separator's place composes with nothing, so an NFC name stays NFC."""
    return unicodedata.normalize("NFC", _SEPARATOR.sub(" ", name).strip())


def _keys(cursor, names: list[str]) -> list[str]:
    if not names:
        return []
    cursor.execute(KEYS_SQL, [names])
    return [row[0] for row in cursor.fetchall()]


def _free_name(cursor, name: str, taken: set[str]) -> tuple[str, str]:
    """``name``, or the first ``name (n)`` whose key no product of the space has, and its key."""
    candidate, n = name, 1
    while True:
        (key,) = _keys(cursor, [candidate])
        if key not in taken:
            return candidate, key
        n += 1
        suffix = f" ({n})"
        candidate = _trim(name[: NAME_MAX - len(suffix)]) + suffix


def _rename_products(apps, cursor) -> dict:
    """Rename the products whose name holds a separator; {(space id, old key): new name}."""
    Product = apps.get_model("products", "ProductState")
    cursor.execute(
        "SELECT id, space_id, name, lower(name) FROM products_productstate"
        " WHERE name ~ %s ORDER BY space_id, created_at, id",
        [SUSPECT],
    )
    renamed, taken, taken_space = {}, set(), None
    for pk, space, old, old_key in cursor.fetchall():
        if space != taken_space:
            taken = set(Product.objects.filter(space_id=space).values_list("name", flat=True))
            taken, taken_space = set(_keys(cursor, sorted(taken))), space
        taken.discard(old_key)
        name, key = _free_name(cursor, on_one_line(old), taken)
        taken.add(key)
        Product.objects.filter(pk=pk).update(name=name, version=F("version") + 1, updated_at=timezone.now())
        renamed[(space, old_key)] = name
    return renamed


def _mapped(cursor, space, names: list[str], renamed: dict) -> list:
    """Each of ``names`` mapped (a renamed product's new name), or None for a product an earlier
    name already names (one per product key, the first kept)."""
    mapped = [
        renamed.get((space, key)) or on_one_line(name) for name, key in zip(names, _keys(cursor, names), strict=True)
    ]
    seen, kept = set(), []
    for name, key in zip(mapped, _keys(cursor, mapped), strict=True):
        kept.append(name if key not in seen else None)
        seen.add(key)
    return kept


def _suspects(model, column: str):
    """The rows whose ``column`` (text) holds a separator."""
    return model.objects.extra(where=[f"{column} ~ %s"], params=[SUSPECT]).order_by("pk")  # noqa: S610 - constant SQL


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
        name = current or on_one_line(product_name)
        if name != product_name:
            Job.objects.filter(pk=pk).update(product_name=name)


def names_on_one_line(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        renamed = _rename_products(apps, cursor)
        _map_kernels(apps, cursor, renamed)
        _map_decisions(apps, cursor, renamed)
    _map_jobs(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("products", "0004_product_names_under_the_rule"),
        ("identity", "0005_admin_list_index"),
        ("decisions", "0015_decision_updated_at"),  # its trigger stamps the decisions changed here
        ("memory", "0012_memory_title_searched"),
    ]

    operations = [migrations.RunPython(names_on_one_line, migrations.RunPython.noop)]
