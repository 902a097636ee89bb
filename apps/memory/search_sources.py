"""The search sources of each memory type (registered by ``MemoryConfig.ready``).

Every source narrows its rows to ``ctx.space`` first: that is the isolation of search.
"""

from __future__ import annotations

from django.contrib.postgres.search import SearchQuery, SearchVector
from django.db.models import DateTimeField, F, Func, JSONField, Q, TextField, Value
from django.db.models.functions import Cast, Coalesce, Left, Lower, NullIf

from apps.decisions.models import Decision
from apps.decisions.ranking import holder_words, words_query
from apps.identity.models import Kernel
from apps.identity.selectors import kernel_layers, kernel_merged_sections
from apps.memory.models import SEARCH_CONFIG, KernelSearch, Memory, ProductSearch, memory_typo_text, typo_text
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
from apps.scopes.models import Space


def _vector(*expressions, weight: str) -> SearchVector:
    return SearchVector(*expressions, config=SEARCH_CONFIG, weight=weight)


def _product_ids(ctx: SearchContext):
    """The id of the product ``ctx.product`` names, as a subquery (the unique index's expression)."""
    name = Lower(Value(normalise_product_name(ctx.product)))  # lowered as the index lowers
    return ProductState.objects.alias(name_key=Lower("name")).filter(space=ctx.space, name_key=name).values("id")


# -- identity: the effective kernel of the active scope ------------------------------------------
# Personal scope: the space's own layer, searched in its columns. Workspace scope: the caller's
# effective kernel (their own personal layer under the workspace layer, SPEC §3), the same one
# GET /memory/identity and the kernel export serve; it is merged in Python and searched as a
# JSON value on the row of the workspace layer (or, before that exists, the caller's own layer).
# Nothing of another member's personal layer is ever read.
KERNEL_SECTIONS = ("identity", "products", "constraints", "model_preferences")
# When the layer last changed, read from its search row (``KernelSearch``).
LAYER_UPDATED = Coalesce("kernel__updated_at", "kernel__created_at")


def _effective_layer(ctx: SearchContext):
    """``(row, sections, updated)`` in a workspace scope (row None: no layer yet); None in a
    personal one. ``updated`` is when either layer last changed, as the kernel GET reports it."""
    if ctx.space.kind == Space.Kind.PERSONAL or ctx.user is None:
        return None
    personal, workspace = kernel_layers(space=ctx.space, user=ctx.user)
    row = workspace if workspace is not None else personal
    layers = [layer for layer in (personal, workspace) if layer is not None]
    updated = max((layer.updated_at or layer.created_at for layer in layers), default=None)
    return row, kernel_merged_sections(personal=personal, workspace=workspace), updated


def _section(sections: dict | None, name: str):
    if sections is None:
        return JsonStrings(name)
    return JsonStrings(Value(sections[name], output_field=JSONField()))


def _kernel_text(sections: dict | None = None) -> ConcatWS:
    return ConcatWS(*(_section(sections, name) for name in KERNEL_SECTIONS))


def kernel_candidates(ctx: SearchContext):
    if ctx.product:
        return None  # the kernel belongs to no single product
    effective = _effective_layer(ctx)
    if effective is None:  # the space's own layer: its stored document and text (memory 0007)
        return hits(
            KernelSearch.objects.filter(space=ctx.space),
            ctx,
            type_="identity",
            document=F("document"),
            text=F("text"),
            updated=LAYER_UPDATED,
            fuzzy_filter=ctx.fuzzy_filter("text"),  # served by the trigram index
            inner_filter=ctx.containing("text"),  # the text holds every part of the document
        )
    row, sections, stamp = effective
    if row is None:
        return None
    # One merged row, built for this caller: its document is made here (the same expressions
    # as the stored one's).
    document = (
        _vector(_section(sections, "identity"), weight="A")
        + _vector(_section(sections, "products"), _section(sections, "constraints"), weight="B")
        + _vector(_section(sections, "model_preferences"), weight="C")
    )
    return hits(
        Kernel.objects.filter(pk=row.pk),
        ctx,
        type_="identity",
        document=document,
        text=_kernel_text(sections),
        updated=Value(stamp, output_field=DateTimeField()),
    )


def kernel_items(ctx: SearchContext, ids: list) -> dict:
    effective = _effective_layer(ctx)
    if effective is None:
        rows = KernelSearch.objects.filter(space=ctx.space, pk__in=ids).annotate(
            snippet=headline(ctx, F("text")), updated=LAYER_UPDATED
        )
    else:
        row, sections, stamp = effective
        rows = Kernel.objects.filter(pk__in=[row.pk] if row is not None and row.pk in ids else []).annotate(
            snippet=headline(ctx, _kernel_text(sections)), updated=Value(stamp, output_field=DateTimeField())
        )
    return {
        row["layer"]: {
            "type": "identity",
            "id": row["layer"],
            "product": None,
            "title": "Identity Kernel",
            "snippet": row["snippet"],
            "updated_at": row["updated"],
        }
        for row in rows.annotate(layer=F("pk")).values("layer", "snippet", "updated")
    }


# -- product: product states, by their stored document and text (memory 0007) -------------------
def product_candidates(ctx: SearchContext):
    rows = ProductSearch.objects.filter(space=ctx.space).alias(typo_text=typo_text("text"))
    if ctx.product:
        rows = rows.filter(product__in=_product_ids(ctx))
    return hits(
        rows,
        ctx,
        type_="product",
        document=F("document"),  # name A, lists B, status and handoff C
        text=F("typo_text"),  # its first TYPO_TEXT_MAX characters (full lists hold ~150,000)
        updated=F("product__updated_at"),
        fuzzy_filter=ctx.fuzzy_filter("typo_text"),  # served by its trigram index
        inner_filter=ctx.containing("text"),  # the text holds every part of the document
    )


def product_items(ctx: SearchContext, ids: list) -> dict:
    rows = (
        ProductSearch.objects.filter(space=ctx.space, pk__in=ids)
        .annotate(snippet=headline(ctx, F("text")), name=F("product__name"), updated=F("product__updated_at"))
        .values("product_id", "name", "snippet", "updated")
    )
    return {
        row["product_id"]: {
            "type": "product",
            "id": row["product_id"],
            "product": row["name"],
            "title": row["name"],
            "snippet": row["snippet"],
            "updated_at": row["updated"],
        }
        for row in rows
    }


# -- decision: current decisions (superseded ones are left out, as in decision search) -----------
class LexemesQuery(SearchQuery):
    """A tsquery written as lexemes (``'a' | 'b'``), taken as it is: not parsed and stemmed again."""

    def as_sql(self, compiler, connection, function=None, template=None):
        sql, params = compiler.compile(self.get_source_expressions()[0])
        return f"{sql}::tsquery", params


def _decision_holders(ctx: SearchContext) -> Q | None:
    """The decisions whose document can hold a run of ``q`` inside a word, found as decision search
    finds them (apps/decisions/ranking.py): through the space's words that hold one while they are
    few, else by reading the decisions' texts. None when ``q`` has no run."""
    runs = ctx.spaceless_runs
    if not runs:
        return None
    holders = holder_words(ctx.space.id, runs)
    if holders is None:
        return ctx.containing("decision", "reasoning", "tags_text")
    return Q(search_document=LexemesQuery(words_query(holders))) if holders else Q(pk__in=[])


def decision_candidates(ctx: SearchContext):
    rows = Decision.objects.filter(space=ctx.space, superseded_by__isnull=True).alias(
        tags_text=Cast("tags", TextField())
    )
    if ctx.product:
        rows = rows.filter(product__in=_product_ids(ctx))
    return hits(
        rows,
        ctx,
        type_="decision",
        document=F("search_document"),  # decision A, tags B, reasoning C; kept by PostgreSQL
        text=F("decision"),
        updated=F("updated_at"),  # set by a trigger on every change (decisions migration 0015)
        fuzzy_filter=ctx.fuzzy_filter("decision"),  # served by the trigram index
        inner_filter=_decision_holders(ctx),
    )


def decision_items(ctx: SearchContext, ids: list) -> dict:
    rows = (
        Decision.objects.filter(space=ctx.space, pk__in=ids)
        .annotate(
            # A decision without reasoning has '' there, which concat_ws would join: no trailing ' · '.
            snippet=headline(ctx, ConcatWS(F("decision"), NullIf(F("reasoning"), Value("")))),
            product_name=F("product__name"),
            head=Left("decision", 400),
        )
        .values("id", "head", "product_name", "snippet", "updated_at")
    )
    return {
        row["id"]: {
            "type": "decision",
            "id": row["id"],
            "product": row["product_name"],
            "title": shorten(row["head"]),
            "snippet": row["snippet"],
            "updated_at": row["updated_at"],
        }
        for row in rows
    }


# -- memory: generic memories ------------------------------------------------------------------
def memory_candidates(ctx: SearchContext):
    if ctx.product:
        return None  # generic memories belong to no product
    return hits(
        Memory.objects.filter(space=ctx.space).alias(typo_text=memory_typo_text()),
        ctx,
        type_="memory",
        document=F("search"),  # title and content A, tags B, type and entity names C
        text=F("typo_text"),  # its title and content, their first TYPO_TEXT_MAX characters (of up to 101,000)
        updated=Coalesce("updated_at", "created_at"),
        fuzzy_filter=ctx.fuzzy_filter("typo_text"),  # served by its trigram index
        # The title, tags and entity names match as whole words.
        inner_filter=ctx.containing("content"),
    )


def memory_items(ctx: SearchContext, ids: list) -> dict:
    rows = (
        Memory.objects.filter(space=ctx.space, pk__in=ids)
        .annotate(
            # Cut from the content's NFC form, which the query and the search document are in.
            snippet=headline(ctx, F("content"), nfc=True),
            head=Left("content", 400),
            # Only a text title, as search reads it (``services.memory_title``): KT gives any
            # JSON value's text, and an object's showed as the title ('{"x": …}').
            meta_title=Func(
                F("metadata"),
                template="CASE WHEN jsonb_typeof(%(expressions)s -> 'title') = 'string'"
                " THEN %(expressions)s ->> 'title' END",
                output_field=TextField(),
            ),
            updated=Coalesce("updated_at", "created_at"),
        )
        .values("id", "memory_id", "snippet", "head", "meta_title", "updated")
    )
    return {
        row["id"]: {
            "type": "memory",
            "id": row["memory_id"],
            "product": None,
            "title": shorten(row["meta_title"] or "") or shorten(row["head"]),  # a blank title: the content's
            "snippet": row["snippet"],
            "updated_at": row["updated"],
        }
        for row in rows
    }


def register_all() -> None:
    register_source(SearchSource("identity", kernel_candidates, kernel_items, required_scope="memory:read"))
    register_source(SearchSource("product", product_candidates, product_items, required_scope="memory:read"))
    register_source(SearchSource("decision", decision_candidates, decision_items, required_scope="decisions:read"))
    register_source(SearchSource("memory", memory_candidates, memory_items, required_scope="memory:read"))
    # "signal" is registered by the ingest app once project signals exist.
