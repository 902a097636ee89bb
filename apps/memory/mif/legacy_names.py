"""Product names of documents an earlier release exported, read before the records are restored as
migration products.0004 read the names stored before the product-name rule (``apps.products.names``).

An earlier release stored a name as sent, NFC and trimmed of whitespace, so its exports may hold
``Acme\\u200b`` (which the rule trims to ``Acme``, maybe another product's name),
``Right\\u202eLeft`` or ``soft\\u00adhyphen`` (refused inside a name) and ``\\u200b\\u200b`` (blank).
Each such name is mapped by ``names.name_under_the_rule`` wherever the document names a product, so
that every reference keeps naming the product it named:

- a product state record takes the mapped name (``Unnamed product`` for a blank one) or, when
  another product has it — a record of the document whose name is unchanged, an earlier record, or
  a product of the scope with a state of its own (a bare one is filled, as by any record:
  ``restore.product_restore``) — the first free ``<name> (2)``, ``(3)``…, in the document's order
  (the export's: oldest first, as the migration). A record already in the scope (by id) keeps the
  name it has there, so a re-import names everything as the first import did;
- a decision's ``product_name`` and ``affects_products`` and the kernel's ``products[].name`` take
  the name of the record spelled so (compared by the key the name had: ``lower()`` of its stored
  spelling), else the mapped name (a blank ``product_name``: ``Unnamed product``); a blank name in
  ``affects_products`` or the kernel's ``products`` is left out, and so is, in a kernel whose names
  were mapped, one naming a product an earlier entry names (one entry per product).

Each name mapped is a warning of its record. Only names an earlier release could store are mapped:
one with a control character, blank once trimmed of whitespace or past 100 characters is refused as
before. A document without such names costs no query here.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import regex
from django.db.models import Value
from django.db.models.functions import Lower

from apps.memory.mif.common import KIND_DECISION, KIND_KERNEL, KIND_PRODUCT, canonical_uuid
from apps.memory.mif.restore import NEVER_WRITTEN, ids_in_space
from apps.products.models import NAME_MAX, ProductState
from apps.products.names import (
    UNNAMED,
    has_control_character,
    name_problem,
    name_under_the_rule,
    normalise_product_name,
    product_name_keys,
    spelling_keys,
    trim_name,
)
from synchronex.text import nfc

BLANK = "it holds invisible characters alone"
# What the rule removes or trims and the earlier one kept are among these: a name without any is
# read as it was (checked for every code point), and most names are ruled out by one search.
_HIDDEN = regex.compile(r"[\p{Cf}\p{Default_Ignorable_Code_Point}]", regex.V1)
RULE = "product names no longer hold invisible or text-direction characters"


def _mapped(name) -> str | None:
    """``name`` under the rule ("" when blank), when an earlier release stored it otherwise; else None."""
    if not isinstance(name, str) or not _HIDDEN.search(name):
        return None
    stored = nfc(name).strip()  # the earlier rule
    if not stored or len(stored) > NAME_MAX or has_control_character(stored):
        return None  # no release stored it: refused as before
    mapped = name_under_the_rule(name)
    return None if mapped == stored else mapped


def _read_as(where: str, name: str, new: str, also: str = "") -> str:
    return f"{where} {name!r} is read as {new!r}: {RULE}{also}."


def _left_out(where: str, name: str, why: str) -> str:
    return f"{where} {name!r} is left out: {why}."


def legacy_names_map(*, space, groups: dict, report) -> None:
    """Map in place the product names an earlier release stored otherwise, in the records of
    ``groups`` (``importers``: records by kind), each told in ``report``'s warnings."""
    spelled = [name for name in _names(groups) if _mapped(name) is not None]
    if not spelled:
        return
    stored = list(dict.fromkeys(nfc(name).strip() for name in spelled))
    keys = dict(zip(stored, spelling_keys(stored), strict=True))

    def old_key(name: str) -> str:
        return keys[nfc(name).strip()]

    renamed = _products(space, groups[KIND_PRODUCT], old_key, report)

    def reference(name) -> str | None:
        """The name a reference takes ("" when blank), or None when it stays as it is."""
        mapped = _mapped(name)
        return None if mapped is None else renamed.get(old_key(name), mapped)

    _decisions(groups[KIND_DECISION], reference, report)
    _kernels(groups[KIND_KERNEL], reference, report)


def _names(groups: dict) -> Iterator:
    for _, _, data in groups[KIND_PRODUCT]:
        yield data.get("name")
    for _, _, data, _ in groups[KIND_DECISION]:
        yield data.get("product_name")
        if isinstance(listed := data.get("affects_products"), list):
            yield from listed
    for _, _, data in groups[KIND_KERNEL]:
        if isinstance(entries := data.get("products"), list):
            yield from (entry.get("name") for entry in entries if isinstance(entry, dict))


def _products(space, records: list, old_key: Callable[[str], str], report) -> dict[str, str]:
    """Name the product records whose name is mapped (module docstring); ``{old key: new name}``."""
    legacy = [
        (i, given, data, mapped) for i, given, data in records if (mapped := _mapped(data.get("name"))) is not None
    ]
    if not legacy:
        return {}
    originals = {uuid.UUID(value) for _, _, data, _ in legacy if (value := canonical_uuid(data.get("id")))}
    here = ids_in_space(ProductState, space=space, originals=originals, kind="product")
    names_here = dict(ProductState.objects.filter(pk__in=here.values()).values_list("pk", "name"))
    keys_here = dict(zip(names_here, spelling_keys(list(names_here.values())), strict=True))
    kept = [name for _, _, data in records if _mapped(name := data.get("name")) is None and _valid(name)]
    taken = set(product_name_keys(kept))
    renamed: dict[str, str] = {}
    tried: dict[str, int] = {}
    named: dict = {}  # original id → name, for a record the document repeats (a duplicate of the first)
    for index, given, data, mapped in legacy:
        name, original = data["name"], canonical_uuid(data.get("id"))
        pk = here.get(uuid.UUID(original)) if original else None
        if pk is not None:
            new, key = names_here[pk], keys_here[pk]  # restored before: a duplicate, named as it is here
        elif original is not None and original in named:
            new, key = named[original]
        else:
            new, key = _free(space, mapped or UNNAMED, taken, tried)
        if original is not None:
            named.setdefault(original, (new, key))
        taken.add(key)
        renamed.setdefault(old_key(name), new)
        data["name"] = new
        taken_by_another = pk is None and new != (mapped or UNNAMED)
        also = f"; {mapped or UNNAMED!r} is another product's name" if taken_by_another else ""
        report.warning(index, given, _read_as("name", name, new, also))
    return renamed


def _valid(name) -> bool:
    return isinstance(name, str) and name_problem(normalise_product_name(name)) is None


def _free(space, base: str, taken: set, tried: dict) -> tuple[str, str]:
    """``base`` or the first ``base (n)`` no other product has — no key of ``taken`` (the document's),
    no product of ``space`` with a state of its own — and its key. ``tried``: the last n of each base,
    so that the records of one name cost a few queries each, not one per record before them."""
    n = tried.get(base, 1)
    while True:
        suffix = f" ({n})" if n > 1 else ""
        candidate = trim_name(base[: NAME_MAX - len(suffix)]) + suffix
        (key,) = spelling_keys([candidate])
        if key not in taken and not _has_state(space, candidate):
            tried[base] = n + 1
            return candidate, key
        n += 1


def _has_state(space, name: str) -> bool:
    """Whether ``space`` has a product called ``name`` (by the unique index's key) with a state of its own."""
    rows = ProductState.objects.filter(space=space).annotate(key=Lower("name")).filter(key=Lower(Value(name)))
    return rows.exclude(NEVER_WRITTEN).exists()


def _decisions(items: list, reference: Callable, report) -> None:
    for index, given, data, _ in items:
        name = data.get("product_name")
        if (new := reference(name)) is not None:
            data["product_name"] = new or UNNAMED
            report.warning(index, given, _read_as("product_name", name, new or UNNAMED))
        if not isinstance(listed := data.get("affects_products"), list):
            continue
        kept = []
        for name in listed:
            new = reference(name)
            if new is None:
                kept.append(name)
            elif new:
                kept.append(new)
                report.warning(index, given, _read_as("affects_products", name, new))
            else:
                report.warning(index, given, _left_out("affects_products", name, BLANK))
        data["affects_products"] = kept


def _kernels(items: list, reference: Callable, report) -> None:
    """Each kernel holding a mapped name: its products mapped, one entry per product (the first)."""
    for index, given, data in items:
        entries = data.get("products")
        if not isinstance(entries, list):
            continue
        news = [reference(entry.get("name")) if isinstance(entry, dict) else None for entry in entries]
        if all(new is None for new in news):
            continue
        names = [
            (entry.get("name") if new is None else new) if isinstance(entry, dict) else None
            for entry, new in zip(entries, news, strict=True)
        ]
        valid = [name for name in names if _valid(name)]
        keys = dict(zip(valid, product_name_keys(valid), strict=True))
        products, seen = [], set()
        for i, (entry, new, name) in enumerate(zip(entries, news, names, strict=True)):
            where = f"products[{i}].name"
            if new == "":
                report.warning(index, given, _left_out(where, entry["name"], BLANK))
                continue
            if _valid(name):
                if keys[name] in seen:
                    report.warning(index, given, _left_out(where, entry["name"], "an earlier entry names that product"))
                    continue
                seen.add(keys[name])
            products.append(entry if new is None else {**entry, "name": new})
            if new is not None:
                report.warning(index, given, _read_as(where, entry["name"], new))
        data["products"] = products
