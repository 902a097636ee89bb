"""Workspace names stored before the name rule (``WorkspaceCreateSerializer``: the rule of product
names) brought under it.

Names used to be stored as sent once trimmed of whitespace and put in NFC, so a zero-width space
at the end or a right-to-left override inside were kept and shown to every member: two
look-alike workspaces (``Équipe`` and ``Équipe`` + ZWSP), or one whose name reorders the text
around it. Each stored name is mapped as ``products.0004`` maps product names: NFC, invisible
characters (Unicode's Default_Ignorable_Code_Point, format characters) trimmed at its ends, those
the rule refuses inside removed (they are invisible: the visible text stays), control characters
removed, trimmed again; a name of invisible characters alone becomes ``Unnamed workspace``.
Workspace names need not be unique, so nothing is renamed for a collision. Only rows that hold one
of the characters concerned, or are not NFC, are read (a regular expression in SQL). Rules
written out: a migration keeps its own.
"""

import unicodedata

import regex
from django.db import migrations

NAME_MAX = 200
UNNAMED = "Unnamed workspace"

# What apps.products.names reads, as of this migration (as products.0004 wrote it out).
_TAG_SEQUENCE = "\U0001f3f4[\U000e0020-\U000e007e]+\U000e007f"
_START = regex.compile(
    r"^[\s\x1c-\x1f\p{Cf}\p{Default_Ignorable_Code_Point}--\p{Prepended_Concatenation_Mark}]+", regex.V1
)
_END = regex.compile(
    rf"(?:({_TAG_SEQUENCE})|[\s\x1c-\x1f\p{{Cf}}\p{{Default_Ignorable_Code_Point}}--\p{{Variation_Selector}}])+\Z",
    regex.V1,
)
_INVISIBLE = regex.compile(r"[\p{Default_Ignorable_Code_Point}--[\u200c\u200d\p{Variation_Selector}]]", regex.V1)
_CONTROL = regex.compile(r"[\x00-\x1f\x7f-\x9f]")
_PIECES = regex.compile(f"({_TAG_SEQUENCE})")
# Every format (Cf) or default-ignorable code point, and the control characters, for PostgreSQL's
# regular expressions: a name without any of them, and in NFC, is already under the rule.
SUSPECT = (
    "[\\u0001-\\u001F\\u007F-\\u009F"
    "\\u00AD\\u034F\\u0600-\\u0605\\u061C\\u06DD\\u070F\\u0890-\\u0891\\u08E2\\u115F-\\u1160\\u17B4-\\u17B5"
    "\\u180B-\\u180F\\u200B-\\u200F\\u202A-\\u202E\\u2060-\\u206F\\u3164\\uFE00-\\uFE0F\\uFEFF\\uFFA0"
    "\\uFFF0-\\uFFFB\\U000110BD\\U000110CD\\U00013430-\\U0001343F\\U0001BCA0-\\U0001BCA3"
    "\\U0001D173-\\U0001D17A\\U000E0000-\\U000E0FFF]"
)


def _trim(text: str) -> str:
    text = _START.sub("", text)
    end = _END.search(text)
    return text if end is None else text[: max(end.ends(1), default=end.start())]


def under_the_rule(name: str) -> str:
    """``name`` as the rule reads it, with the characters it refuses inside removed."""
    name = _trim(unicodedata.normalize("NFC", name))
    pieces = _PIECES.split(name)  # the tag sequences at odd indexes stay whole
    name = "".join(piece if i % 2 else _CONTROL.sub("", _INVISIBLE.sub("", piece)) for i, piece in enumerate(pieces))
    return _trim(unicodedata.normalize("NFC", name)[:NAME_MAX]).strip() or UNNAMED


def workspace_names_under_the_rule(apps, schema_editor):
    Space = apps.get_model("scopes", "Space")
    where = "name ~ %s OR NOT name IS NFC NORMALIZED"
    rows = Space.objects.exclude(kind="personal").extra(where=[where], params=[SUSPECT])  # noqa: S610 - constant SQL
    for pk, name in rows.order_by("pk").values_list("pk", "name").iterator():
        mapped = under_the_rule(name)
        if mapped != name:
            Space.objects.filter(pk=pk).update(name=mapped)


class Migration(migrations.Migration):
    dependencies = [("scopes", "0003_activescope_keeps_deleted_workspace_id")]

    operations = [migrations.RunPython(workspace_names_under_the_rule, migrations.RunPython.noop)]
