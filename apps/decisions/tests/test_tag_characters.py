"""A tag follows the product-name rule for invisible characters (``apps.products.names``): a
zero-width space, a bidi override or a BOM inside a tag is a VALIDATION_ERROR naming the tag, so
``prod`` and ``pro\\u200bd`` are never two tags that look the same; at its ends such characters are
trimmed, as whitespace is. Ordinary non-ASCII tags are tags like any other. REST and MCP, over real
HTTP."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps as django_apps
from django.db import connection

from apps.decisions.models import Decision
from apps.mcp.tests.conftest import Mcp

from .helpers import DECISIONS, make, record, search, texts

pytestmark = pytest.mark.django_db(transaction=True)

INVISIBLE = {
    "zero width space": ("pro\u200bd", "U+200B"),
    "right-to-left override": ("pro\u202ed", "U+202E"),
    "byte order mark": ("pro\ufeffd", "U+FEFF"),
}


def refused(response) -> dict:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    return error["details"]["fields"]


@pytest.mark.parametrize(("tag", "code"), INVISIBLE.values(), ids=INVISIBLE.keys())
def test_an_invisible_character_inside_a_tag_is_a_validation_error_naming_it(write_api, tag, code):
    fields = refused(write_api.post(DECISIONS, json={"decision": "x", "product_name": "Atlas", "tags": ["ok", tag]}))
    assert list(fields) == ["tags[1]"]
    [message] = fields["tags[1]"]
    assert message.startswith(f"A tag may not contain {code}"), message
    assert not write_api.get(f"{DECISIONS}/search").json()["results"]


def test_invisible_characters_at_a_tags_ends_are_trimmed(write_api):
    body = record(write_api, "Use Kafka", tags=["\ufeffprod\u200b", "prod"])
    assert body["tags"] == ["prod"]
    blank = refused(write_api.post(DECISIONS, json={"decision": "x", "product_name": "Atlas", "tags": ["\u200b"]}))
    assert list(blank) == ["tags[0]"]


def test_non_ascii_tags_are_still_tags(write_api):
    body = record(
        write_api,
        "Use Kafka",
        tags=["Café", "日本", "👩‍💻", "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"],
    )
    assert body["tags"] == [
        "café",
        "日本",
        "👩‍💻",
        "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",
    ]
    assert texts(search(write_api, tags="café,日本")) == ["Use Kafka"]


@pytest.mark.parametrize(("tag", "code"), INVISIBLE.values(), ids=INVISIBLE.keys())
def test_log_decision_refuses_an_invisible_character_inside_a_tag(base_url, make_key, user, tag, code):
    mcp = Mcp(base_url, make_key(user, "write"))
    errors = mcp.argument_errors("log_decision", {"decision": "x", "product_name": "Atlas", "tags": [tag]})
    assert list(errors) == ["tags[0]"]
    assert errors["tags[0]"][0].startswith(f"A tag may not contain {code}")
    assert mcp.tool("log_decision", {"decision": "y", "product_name": "Atlas", "tags": ["日本"]})["tags"] == ["日本"]


def migrate() -> None:
    migration = importlib.import_module("apps.decisions.migrations.0017_tags_under_the_rule")
    migration.map_tags(django_apps, connection.schema_editor())


def test_the_migration_brings_stored_tags_under_the_rule(write_api, product):
    """Tags an earlier release stored as sent lose their invisible characters (the visible text
    stays); a tag left blank, or the same as an earlier one, is dropped; ``merge_base`` follows."""
    flag = "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"
    held = make(
        product,
        "Use Kafka",
        tags=["pro\u200bd", "prod", "\u200b", "\ufeffops", "r\u202etl", "café", flag, "a\u200db"],
        merge_base={"tags": ["pro\u200bd"], "affects_products": [], "alternatives": [], "reasoning": ""},
    )
    clean = make(product, "Use Redis", tags=["日本", "prod"])
    before = clean.updated_at

    migrate()

    held.refresh_from_db()
    clean.refresh_from_db()
    assert held.tags == ["prod", "ops", "rtl", "café", flag, "a\u200db"]
    assert held.merge_base["tags"] == ["prod"]
    assert (clean.tags, clean.updated_at) == (["日本", "prod"], before)
    assert texts(search(write_api, tags="prod,rtl")) == ["Use Kafka"]
    migrate()  # again: nothing left to do
    assert Decision.objects.get(pk=held.pk).tags == held.tags
