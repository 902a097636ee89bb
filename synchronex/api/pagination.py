"""``limit``/``offset`` paging with strict bounds (SPEC §1): out of range is an error, not clamped."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Window
from drf_spectacular.utils import OpenApiParameter

from synchronex.api import errors
from synchronex.api.parsers import ascii_integer
from synchronex.api.serializers import query_name_problems

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
# The largest offset accepted: far past the end of any list served here.
MAX_OFFSET = 10**9
# The annotation ``Page.rows`` reads a list's total by, beside its rows.
TOTAL = "page_total"

# The two query parameters of every paged route, for ``extend_schema(parameters=...)``.
PAGE_PARAMETERS = [
    OpenApiParameter(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
        OpenApiParameter.QUERY,
        required=False,
        description=f"1–{MAX_LIMIT}, default {DEFAULT_LIMIT}. A query parameter this operation does not list, "
        "or one given twice, is a VALIDATION_ERROR naming it.",
    ),
    OpenApiParameter(
        "offset",
        {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0},
        OpenApiParameter.QUERY,
        required=False,
        description=f"0–{MAX_OFFSET:,}, default 0.",
    ),
]


def _parse_int(params, name: str, default: int, low: int, high: int, problems: dict[str, str]) -> int:
    """``params[name]`` as an integer in ``low``–``high`` (ASCII digits: ``ascii_integer``); a
    problem is added to ``problems``."""
    raw = params.get(name)
    if raw is None or name in problems:
        return default
    value = ascii_integer(raw)
    if value is None:
        problems[name] = f"{name} must be an integer."
        return default
    if not low <= value <= high:
        problems[name] = f"{name} must be between {low} and {high}."
    return value


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int

    @classmethod
    def from_request(cls, request, *, filters: tuple[str, ...] = (), problems: dict | None = None) -> Page:
        """The page a request asks for. Its query may hold only ``limit``, ``offset`` and the route's
        own ``filters``, each at most once: anything else is a VALIDATION_ERROR naming every problem
        at once (as the searches, costs and MIF export answer), since ignoring a misspelt
        ``?limt=1`` would answer another page than the one asked for. ``problems`` are those the
        route's own check of its filters found (name → message or messages): they are named in the
        same VALIDATION_ERROR, so one answer tells every problem of the query."""
        params = request.query_params
        found = query_name_problems(params, ("limit", "offset", *filters))
        limit = _parse_int(params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT, found)
        offset = _parse_int(params, "offset", 0, 0, MAX_OFFSET, found)
        found.update(problems or {})
        if found:
            raise errors.ValidationFailed.for_query(found)
        return cls(limit=limit, offset=offset)

    def slice(self, items):
        return items[self.offset : self.offset + self.limit]

    def envelope(self, results: list, count: int) -> dict:
        """The paged body. ``next_offset`` follows this page's results while items remain, and
        is null once a page holds none: past the end, or cut to nothing by a ``token_budget`` that
        fits no result, where the same offset would answer the same empty page for ever."""
        end = self.offset + len(results)
        return {
            "results": results,
            "count": count,
            "limit": self.limit,
            "offset": self.offset,
            "next_offset": end if results and end < count else None,
        }

    def rows(self, queryset) -> tuple[list, int]:
        """This page's rows of ``queryset`` and how many it holds in all, read by one statement
        (``count(*) OVER ()``, as the searches count), so both come from one snapshot: two reads
        would let a row written between them make ``count`` disagree with the page and a full last
        page end a walk (``next_offset`` null) before a row it had pushed back. Past the end no row
        carries the total, and a second statement counts it."""
        rows = list(self.slice(queryset.annotate(**{TOTAL: Window(Count("*"))})))
        if rows:
            return rows, getattr(rows[0], TOTAL)
        return rows, queryset.count() if self.offset else 0

    def of(self, queryset, serializer_class) -> dict:
        """One page of ``queryset``, serialized, in the paged envelope."""
        rows, count = self.rows(queryset)
        return self.envelope(serializer_class(rows, many=True).data, count)
