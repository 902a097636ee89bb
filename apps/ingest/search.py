"""The ``signal`` source of memory search (registered by ``IngestConfig.ready``).

Every ingested signal of the space is searchable, whatever its status: title (weight A), body (B),
type and source (C), with typo-tolerant matching on the title. Signals need memory:read; a
``decision`` signal holds its decision's text and reasoning, so it also needs decisions:read, as
decision hits do (SPEC §7).
"""

from __future__ import annotations

from django.db.models import F, Value
from django.db.models.functions import Left, Lower, NullIf

from apps.ingest.models import Signal
from apps.memory.search import ConcatWS, SearchContext, SearchSource, headline, hits, register_source, shorten
from apps.products.models import ProductState
from apps.products.names import normalise_product_name


def _text() -> ConcatWS:
    # Empty parts are left out (concat_ws skips NULLs), so no separator dangles in the snippet.
    return ConcatWS(NullIf(F("title"), Value("")), NullIf(F("body"), Value("")))


def signal_candidates(ctx: SearchContext):
    rows = Signal.objects.filter(space=ctx.space)
    if not ctx.allows("decisions:read"):
        rows = rows.exclude(type="decision")
    if ctx.product:
        name = Lower(Value(normalise_product_name(ctx.product)))  # lowered as the index lowers
        product_ids = (
            ProductState.objects.alias(name_key=Lower("name")).filter(space=ctx.space, name_key=name).values("id")
        )
        rows = rows.filter(product__in=product_ids)
    return hits(
        rows,
        ctx,
        type_="signal",
        document=F("search_document"),
        text=F("title"),
        updated=F("occurred_at"),
        fuzzy_filter=ctx.fuzzy_filter("title"),  # served by the trigram index
        inner_filter=ctx.containing("title", "body"),  # the body has no trigram index: read
    )


def signal_items(ctx: SearchContext, ids: list) -> dict:
    rows = (
        Signal.objects.filter(space=ctx.space, pk__in=ids)
        .annotate(
            snippet=headline(ctx, _text()),
            product_name=F("product__name"),
            head=Left("title", 400),
            body_head=Left("body", 400),
        )
        .values("id", "type", "head", "body_head", "product_name", "snippet", "occurred_at")
    )
    return {
        row["id"]: {
            "type": "signal",
            "id": row["id"],
            "product": row["product_name"],
            "title": shorten(f"{row['type']}: {row['head'] or row['body_head'] or row['type']}"),
            "snippet": row["snippet"],
            "updated_at": row["occurred_at"],
        }
        for row in rows
    }


def register() -> None:
    register_source(SearchSource("signal", signal_candidates, signal_items, required_scope="memory:read"))
