"""Decision tags stored before the tag rule (``apps.decisions.api.serializers.TagField``) brought
under it.

The API used to store a tag as sent once trimmed of whitespace, put in NFC and lowercased, so a
zero-width space, a BOM or a right-to-left override inside it was kept: ``pro\\u200bd`` was a tag
of its own beside ``prod``, which it looks the same as, and the MIF import, which checks restored
decisions by the API's rules, now refuses it, so a decision holding one would not survive its own
export. Each stored tag is mapped as migration products.0004 mapped product names: invisible
characters (Unicode's Default_Ignorable_Code_Point, format characters) trimmed at its ends, those
the rule refuses inside removed (they are invisible: the visible text stays), trimmed again. A tag
left blank is dropped, and one an earlier tag of the decision already is (``prod`` beside
``pro\\u200bd``) too, the first kept. A survivor's ``merge_base`` tags are mapped the same way, so
they stay the start of its own. Only decisions whose tags hold one of the characters concerned are
read (a regular expression in SQL), and only those whose tags change are written; the row triggers
keep their search document and words. Rules written out: a migration keeps its own.
"""

import unicodedata

import regex
from django.db import migrations

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
# Every format (Cf) or default-ignorable code point, for PostgreSQL's regular expressions: tags
# without any of them are already under the rule.
SUSPECT = (
    "[\\u00AD\\u034F\\u0600-\\u0605\\u061C\\u06DD\\u070F\\u0890-\\u0891\\u08E2\\u115F-\\u1160\\u17B4-\\u17B5"
    "\\u180B-\\u180F\\u200B-\\u200F\\u202A-\\u202E\\u2060-\\u206F\\u3164\\uFE00-\\uFE0F\\uFEFF\\uFFA0"
    "\\uFFF0-\\uFFFB\\U000110BD\\U000110CD\\U00013430-\\U0001343F\\U0001BCA0-\\U0001BCA3"
    "\\U0001D173-\\U0001D17A\\U000E0000-\\U000E0FFF]"
)


def _trim(text: str) -> str:
    text = _START.sub("", text)
    end = _END.search(text)
    return text if end is None else text[: max(end.ends(1), default=end.start())]


def tag_under_the_rule(tag: str) -> str:
    """``tag`` as the rule reads it, with the invisible characters it refuses inside removed."""
    tag = _trim(unicodedata.normalize("NFC", tag))
    pieces = _PIECES.split(tag)  # the tag sequences at odd indexes stay whole
    return _trim("".join(piece if i % 2 else _INVISIBLE.sub("", piece) for i, piece in enumerate(pieces)))


def tags_under_the_rule(tags: list[str]) -> list[str]:
    """Each tag mapped, blanks and repeats dropped (the first kept)."""
    return list(dict.fromkeys(mapped for tag in tags if (mapped := tag_under_the_rule(tag))))


def map_tags(apps, schema_editor):
    Decision = apps.get_model("decisions", "Decision")
    rows = Decision.objects.extra(where=["array_to_string(tags, ' ') ~ %s"], params=[SUSPECT])  # noqa: S610
    for pk, tags, merge_base in rows.order_by("pk").values_list("pk", "tags", "merge_base").iterator():
        mapped = tags_under_the_rule(tags)
        if mapped == tags:
            continue
        changes = {"tags": mapped}
        if isinstance(merge_base, dict) and isinstance(merge_base.get("tags"), list):
            own = [tag for tag in merge_base["tags"] if isinstance(tag, str)]
            changes["merge_base"] = {**merge_base, "tags": tags_under_the_rule(own)}
        Decision.objects.filter(pk=pk).update(**changes)


class Migration(migrations.Migration):
    dependencies = [("decisions", "0016_decision_merge_base")]

    operations = [migrations.RunPython(map_tags, migrations.RunPython.noop)]
