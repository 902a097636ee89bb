"""A BYOK label is text like any other: NFC-normalised on input, so its composed and decomposed
spellings are one label to its length and to the unique key per service (PostgreSQL's
``lower(label)``); the pre-check compares as that index does; the migration ``byok.0003_label_nfc``
normalises labels stored before, and leaves a label that would collide as it is. Over real HTTP."""

from __future__ import annotations

import importlib
import unicodedata

import pytest
from django.apps import apps as django_apps
from django.db import connection

from apps.byok.models import ByokCredential
from apps.byok.services import byok_credential_create
from apps.byok.tests.helpers import URL, fresh_key
from apps.scopes.services import space_ensure_personal

pytestmark = pytest.mark.django_db(transaction=True)


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def create(client, label: str, service: str = "anthropic", **extra):
    return client.post(URL, json={"service": service, "label": label, "key": fresh_key(service), **extra})


def conflict_field(response) -> str | None:
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert error["code"] == "CONFLICT"
    return (error.get("details") or {}).get("field")


def test_a_label_in_nfc_and_nfd_is_one_label(write_api):
    first = create(write_api, nfc("Clé perso"))
    assert first.status_code == 201, first.text
    assert conflict_field(create(write_api, nfd("Clé perso"))) == "label"
    assert conflict_field(create(write_api, nfd("CLÉ PERSO"))) == "label"
    decomposed = create(write_api, nfd("Équipe Prod"), "openai")
    assert decomposed.status_code == 201, decomposed.text
    assert decomposed.json()["label"] == nfc("Équipe Prod")
    assert conflict_field(create(write_api, nfc("équipe prod"), "openai")) == "label"
    assert [item["label"] for item in write_api.get(URL).json()["results"]] == [nfc("Clé perso"), nfc("Équipe Prod")]


def test_a_labels_length_counts_nfc_characters(write_api):
    accepted = create(write_api, nfd("\u00e9" * 100))  # 200 code points, 100 characters
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["label"] == "\u00e9" * 100


def test_a_base_url_is_stored_nfc(write_api):
    response = create(write_api, "local", "openai_compatible", base_url=nfd("https://llm.café.example/v1"))
    assert response.status_code == 201, response.text
    assert response.json()["base_url"] == nfc("https://llm.café.example/v1")


def test_a_label_the_unique_index_joins_is_a_conflict_naming_the_label(write_api):
    # PostgreSQL lowers 'İ' to 'i' (the index's key), while UPPER() keeps 'İ' apart from 'I'.
    assert create(write_api, "İnfra").status_code == 201
    assert conflict_field(create(write_api, "infra")) == "label"
    # UPPER() joins 'ſ' (long s) and 's', which the index keeps apart: two labels.
    assert create(write_api, "ſtage").status_code == 201
    assert create(write_api, "stage").status_code == 201


def migrate() -> None:
    migration = importlib.import_module("apps.byok.migrations.0003_label_nfc")
    migration.normalise_labels(django_apps, connection.schema_editor())


def test_the_migration_normalises_stored_labels_and_keeps_colliding_ones(user):
    space = space_ensure_personal(user=user)

    def stored(label: str, service: str = "openai") -> ByokCredential:
        # Through the service, which stores the label as given (the API normalised it; before
        # that rule it did not).
        return byok_credential_create(space=space, service=service, label=label, key=fresh_key(service))

    alone = stored(nfd("Clé perso"))
    nfc_first = stored(nfc("Équipe"))
    nfd_second = stored(nfd("équipe"))  # one label with the first in NFC, in any case
    # Two non-NFC spellings of 'ệ' (its marks in both orders): the older takes the NFC label.
    older = stored("e\u0323\u0302 dev", "groq")
    newer = stored("e\u0302\u0323 dev", "groq")
    too_long = stored("\u0958" * 60, "mistral")  # NFC splits each in two: 120 characters

    migrate()

    labels = dict(ByokCredential.objects.values_list("id", "label"))
    assert labels[alone.id] == nfc("Clé perso")
    assert labels[nfc_first.id] == nfc("Équipe") and labels[nfd_second.id] == nfd("équipe")
    assert labels[older.id] == "\u1ec7 dev" and labels[newer.id] == "e\u0302\u0323 dev"
    assert labels[too_long.id] == "\u0958" * 60
    migrate()  # again: nothing left to do, nothing fails
    assert dict(ByokCredential.objects.values_list("id", "label")) == labels


def refused_fields(response) -> dict:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    return error["details"]["fields"]


@pytest.mark.parametrize(
    ("label", "code"),
    [("Pro\u200bd", "U+200B"), ("Pro\u202ed", "U+202E"), ("Pro\ufeffd", "U+FEFF")],
    ids=["zero width space", "right-to-left override", "byte order mark"],
)
def test_an_invisible_character_inside_a_label_is_a_validation_error_naming_it(write_api, label, code):
    """Two labels that look the same would be two credentials the list cannot tell apart (the
    product-name rule, ``format_character_problem``)."""
    fields = refused_fields(create(write_api, label))
    assert list(fields) == ["label"]
    assert fields["label"][0].startswith(f"A label may not contain {code}"), fields
    assert not ByokCredential.objects.exists()


def test_invisible_characters_at_a_labels_ends_are_trimmed_and_non_ascii_labels_taken(write_api):
    trimmed = create(write_api, "\ufeffProd\u200b")
    assert trimmed.status_code == 201, trimmed.text
    assert trimmed.json()["label"] == "Prod"
    assert conflict_field(create(write_api, "prod")) == "label"
    assert list(refused_fields(create(write_api, "\u200b"))) == ["label"]
    for label in ("café", "日本"):
        response = create(write_api, label)
        assert response.status_code == 201, response.text
        assert response.json()["label"] == label
