"""The search sources of each memory type (registered by ``MemoryConfig.ready``).

Every source narrows its rows to ``ctx.space`` first: that is the isolation of search.
"""

from __future__ import annotations

from django.contrib.postgres.search import SearchVector
from django.db.models import F, Q
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce, Left, Lower

from apps.decisions.models import Decision
from apps.identity.models import Kernel
from apps.memory.models import SEARCH_CONFIG, Memory
from apps.memory.search import (
    ConcatWS,
    JsonStrings,
    SearchContext,
    SearchSource,
    headline,
    hits,
    register_source,
    shorten,
)
from apps.products.models import ProductState
from apps.products.names import normalise_product_name


def _vector(*expressions, weight: str) -> SearchVector:
    return SearchVector(*expressions, config=SEARCH_CONFIG, weight=weight)


def _product_ids(ctx: SearchContext):
    """The id of the product ``ctx.product`` names, as a subquery (the unique index's expression)."""
    name = normalise_product_name(ctx.product).lower()
    return ProductState.objects.alias(name_key=Lower("name")).filter(space=ctx.space, name_key=name).values("id")


# -- identity: the space's kernel layer ----------------------------------------------------------
# The layer of the active space only: in a workspace scope that is the workspace's own layer,
# never a member's personal one.
def _kernel_text() -> ConcatWS:
    return ConcatWS(*(JsonStrings(section) for section in ("identity", "products", "constraints", "model_preferences")))


def kernel_candidates(ctx: SearchContext):
    if ctx.product:
        return None  # the kernel belongs to no single product
    document = (
        _vector(JsonStrings("identity"), weight="A")
        + _vector(JsonStrings("products"), JsonStrings("constraints"), weight="B")
        + _vector(JsonStrings("model_preferences"), weight="C")
    )
    return hits(
        Kernel.objects.filter(space=ctx.space),
        ctx,
        type_="identity",
        document=document,
        text=_kernel_text(),
        updated=Coalesce("updated_at", "created_at"),
    )


def kernel_items(ctx: SearchContext, ids: list) -> dict:
    rows = (
        Kernel.objects.filter(space=ctx.space, pk__in=ids)
        .annotate(snippet=headline(ctx, _kernel_text()), updated=Coalesce("updated_at", "created_at"))
        .values("id", "snippet", "updated")
    )
    return {
        row["id"]: {
            "type": "identity",
            "id": row["id"],
            "product": None,
            "title": "Identity Kernel",
            "snippet": row["snippet"],
            "updated_at": row["updated"],
        }
        for row in rows
    }


# -- product: product states ---------------------------------------------------------------------
def _product_lists() -> list[JsonStrings]:
    return [JsonStrings(name) for name in ("what_works", "what_is_blocked", "open_questions")]


def _product_text() -> ConcatWS:
    return ConcatWS(F("name"), F("status"), *_product_lists(), F("next_session_starts_here"), F("last_session_summary"))


def product_candidates(ctx: SearchContext):
    rows = ProductState.objects.filter(space=ctx.space)
    if ctx.product:
        rows = rows.filter(pk__in=_product_ids(ctx))
    document = (
        _vector("name", weight="A")
        + _vector(*_product_lists(), weight="B")
        + _vector("status", "next_session_starts_here", "last_session_summary", weight="C")
    )
    return hits(rows, ctx, type_="product", document=document, text=_product_text(), updated=F("updated_at"))


def product_items(ctx: SearchContext, ids: list) -> dict:
    rows = (
        ProductState.objects.filter(space=ctx.space, pk__in=ids)
        .annotate(snippet=headline(ctx, _product_text()))
        .values("id", "name", "snippet", "updated_at")
    )
    return {
        row["id"]: {
            "type": "product",
            "id": row["id"],
            "product": row["name"],
            "title": row["name"],
            "snippet": row["snippet"],
            "updated_at": row["updated_at"],
        }
        for row in rows
    }


# -- decision: current decisions (superseded ones are left out, as in decision search) -----------
def decision_candidates(ctx: SearchContext):
    rows = Decision.objects.filter(space=ctx.space, superseded_by__isnull=True)
    if ctx.product:
        rows = rows.filter(product__in=_product_ids(ctx))
    return hits(
        rows,
        ctx,
        type_="decision",
        document=F("search_document"),  # decision A, tags B, reasoning C; kept by PostgreSQL
        text=F("decision"),
        updated=F("created_at"),
        fuzzy_filter=Q(decision__trigram_word_similar=ctx.q),  # served by the trigram index
    )


def decision_items(ctx: SearchContext, ids: list) -> dict:
    rows = (
        Decision.objects.filter(space=ctx.space, pk__in=ids)
        .annotate(
            snippet=headline(ctx, ConcatWS(F("decision"), F("reasoning"))),
            product_name=F("product__name"),
            head=Left("decision", 400),
        )
        .values("id", "head", "product_name", "snippet", "created_at")
    )
    return {
        row["id"]: {
            "type": "decision",
            "id": row["id"],
            "product": row["product_name"],
            "title": shorten(row["head"]),
            "snippet": row["snippet"],
            "updated_at": row["created_at"],
        }
        for row in rows
    }


# -- memory: generic memories ------------------------------------------------------------------
def memory_candidates(ctx: SearchContext):
    if ctx.product:
        return None  # generic memories belong to no product
    return hits(
        Memory.objects.filter(space=ctx.space),
        ctx,
        type_="memory",
        document=F("search"),
        text=F("content"),
        updated=Coalesce("updated_at", "created_at"),
        fuzzy_filter=Q(content__trigram_word_similar=ctx.q),  # served by the trigram index
    )


def memory_items(ctx: SearchContext, ids: list) -> dict:
    rows = (
        Memory.objects.filter(space=ctx.space, pk__in=ids)
        .annotate(
            snippet=headline(ctx, F("content")),
            head=Left("content", 400),
            meta_title=KT("metadata__title"),
            updated=Coalesce("updated_at", "created_at"),
        )
        .values("id", "memory_id", "snippet", "head", "meta_title", "updated")
    )
    return {
        row["id"]: {
            "type": "memory",
            "id": row["memory_id"],
            "product": None,
            "title": shorten(row["meta_title"] or row["head"]),
            "snippet": row["snippet"],
            "updated_at": row["updated"],
        }
        for row in rows
    }


def register_all() -> None:
    register_source(SearchSource("identity", kernel_candidates, kernel_items))
    register_source(SearchSource("product", product_candidates, product_items))
    register_source(SearchSource("decision", decision_candidates, decision_items, required_scope="decisions:read"))
    register_source(SearchSource("memory", memory_candidates, memory_items))
    # "signal" is registered by the ingest app once project signals exist.
