"""``limit``/``offset`` paging with strict bounds (SPEC §1): out of range is an error, not clamped."""

from __future__ import annotations

from dataclasses import dataclass

from drf_spectacular.utils import OpenApiParameter

from synchronex.api import errors
from synchronex.api.parsers import ascii_integer
from synchronex.api.serializers import query_name_problems

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
# The largest offset accepted: far past the end of any list served here.
MAX_OFFSET = 10**9

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
    def from_request(cls, request, *, filters: tuple[str, ...] = ()) -> Page:
        """The page a request asks for. Its query may hold only ``limit``, ``offset`` and the route's
        own ``filters``, each at most once: anything else is a VALIDATION_ERROR naming every problem
        at once (as the searches, costs and MIF export answer), since ignoring a misspelt
        ``?limt=1`` would answer another page than the one asked for."""
        params = request.query_params
        problems = query_name_problems(params, ("limit", "offset", *filters))
        limit = _parse_int(params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT, problems)
        offset = _parse_int(params, "offset", 0, 0, MAX_OFFSET, problems)
        if problems:
            raise errors.ValidationFailed.for_fields(problems)
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

    def of(self, queryset, serializer_class) -> dict:
        """Count, slice and serialize one page of ``queryset`` into the paged envelope."""
        count = queryset.count()
        rows = list(self.slice(queryset)) if self.offset < count else []
        return self.envelope(serializer_class(rows, many=True).data, count)
