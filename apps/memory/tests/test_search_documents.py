"""The search documents of product states and kernel layers (``ProductSearch``, ``KernelSearch``)
are kept by PostgreSQL for every write path, equal to what memory search used to build per row."""

import importlib

import pytest
from django.contrib.postgres.search import SearchVector
from django.db import connection
from django.db.models import F, Value
from django.db.models.functions import NullIf

from apps.identity.models import Kernel
from apps.identity.services import kernel_update
from apps.memory.models import KernelSearch, ProductSearch
from apps.memory.search import ConcatWS, JsonStrings
from apps.memory.tests.test_search_work import function_calls, seed
from apps.products.models import ProductState
from apps.products.services import product_state_write
from apps.scopes.services import space_ensure_personal

LISTS = ("what_works", "what_is_blocked", "open_questions")
SECTIONS = ("identity", "products", "constraints", "model_preferences")
pytestmark = pytest.mark.django_db


def _product_document():
    # The expressions memory search used to evaluate per row: the stored ones must equal them,
    # or ranks and snippets would move.
    config = "english"
    return (
        SearchVector("name", config=config, weight="A")
        + SearchVector(*(JsonStrings(name) for name in LISTS), config=config, weight="B")
        + SearchVector("status", "next_session_starts_here", "last_session_summary", config=config, weight="C")
    )


def _product_text():
    # Empty parts are skipped (migration 0011): a new product's snippet is "**Orion** · active".
    parts = (F("name"), F("status"), *(JsonStrings(name) for name in LISTS))
    return ConcatWS(
        *(NullIf(part, Value("")) for part in (*parts, F("next_session_starts_here"), F("last_session_summary")))
    )


def _kernel_document():
    config = "english"
    return (
        SearchVector(JsonStrings("identity"), config=config, weight="A")
        + SearchVector(JsonStrings("products"), JsonStrings("constraints"), config=config, weight="B")
        + SearchVector(JsonStrings("model_preferences"), config=config, weight="C")
    )


def assert_stored_documents_are_current():
    products = ProductState.objects.annotate(document=_product_document(), text=_product_text())
    expected = {row["id"]: (row["document"], row["text"], row["space_id"]) for row in products.values()}
    stored = ProductSearch.objects.values_list("product_id", "document", "text", "space_id")
    assert {pk: rest for pk, *rest in stored} == {pk: list(rest) for pk, rest in expected.items()}
    kernels = Kernel.objects.annotate(
        document=_kernel_document(), text=ConcatWS(*(JsonStrings(name) for name in SECTIONS))
    )
    expected = {row["id"]: [row["document"], row["text"], row["space_id"]] for row in kernels.values()}
    stored = KernelSearch.objects.values_list("kernel_id", "document", "text", "space_id")
    assert {pk: rest for pk, *rest in stored} == expected


def test_stored_search_documents_follow_every_write(user, make_user):
    space = seed(user)
    assert_stored_documents_are_current()
    product_state_write(space=space, name="Product 1", changes={"status": "blocked", "what_works": ["Redis queue"]})
    ProductState.objects.filter(space=space, name="Product 2").update(
        next_session_starts_here="Kafka spike", last_session_summary="Shipped the importer"
    )
    kernel_update(space=space, changes={"identity": {"name": "Ada Lovelace"}, "constraints": None}, actor="test")
    other = space_ensure_personal(user=make_user())
    product_state_write(space=other, name="Elsewhere", changes={"open_questions": ["Which cloud?"]})
    assert_stored_documents_are_current()
    found = ProductSearch.objects.filter(product__name="Product 2").values_list("text", flat=True).get()
    assert "Kafka spike" in found
    ProductState.objects.filter(space=space, name="Product 3").delete()
    Kernel.objects.filter(space=other).delete()
    assert_stored_documents_are_current()


def test_touching_a_product_keeps_its_stored_document(user):
    space = seed(user)
    with function_calls() as calls:
        ProductState.objects.filter(space=space).update(last_activity_at=F("last_activity_at"), status=F("status"))
        Kernel.objects.filter(space=space).update(injection_block="cached", identity=F("identity"))
    # A decision touches its product; a read caches the kernel's block; a write may set a searched
    # column to what it was: none of them rebuilds a document.
    assert calls.get("sx_product_search_keep", 0) == calls.get("sx_kernel_search_keep", 0) == 0


def test_the_migration_fills_the_tables_from_rows_stored_before(user):
    space = seed(user)
    migration = importlib.import_module("apps.memory.migrations.0007_search_documents")
    with connection.cursor() as cursor:
        # The test's writes leave deferred foreign-key checks pending, which DDL on their tables refuses.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for statement in connection.ops.prepare_sql_script(migration.REVERSE_SQL):
            cursor.execute(statement)
        # The tables as CreateModel leaves them: empty, without the cascading keys.
        cursor.execute("ALTER TABLE memory_productsearch DROP CONSTRAINT productsearch_product_cascade")
        cursor.execute("ALTER TABLE memory_kernelsearch DROP CONSTRAINT kernelsearch_kernel_cascade")
        cursor.execute("DELETE FROM memory_productsearch")
        cursor.execute("DELETE FROM memory_kernelsearch")
    product_state_write(space=space, name="Stored before", changes={"what_works": ["Nightly backups"]})
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    for statement in connection.ops.prepare_sql_script(migration.SQL + _migration_0011().sql):
        with connection.cursor() as cursor:
            cursor.execute(statement)
    assert_stored_documents_are_current()
    assert ProductSearch.objects.filter(space=space).count() == ProductState.objects.filter(space=space).count() == 6


def _migration_0011():
    module = importlib.import_module("apps.memory.migrations.0011_product_search_text_skips_empty_fields")
    return module.Migration.operations[0]


def test_the_migration_rewrites_the_texts_stored_with_empty_separators(user):
    space = space_ensure_personal(user=user)
    operation = _migration_0011()
    with connection.cursor() as cursor:
        cursor.execute(operation.reverse_sql)  # the function as 0007 made it
    product_state_write(space=space, name="Orion", changes={"what_works": ["Login"]})

    def stored():
        return list(ProductSearch.objects.filter(space=space).values_list("text", flat=True))

    assert stored() == ["Orion · active · Login ·  · "]
    with connection.cursor() as cursor:
        cursor.execute(operation.sql)
    assert stored() == ["Orion · active · Login"]
    assert_stored_documents_are_current()
