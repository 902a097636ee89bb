"""``limit``/``offset`` paging with strict bounds (SPEC §1): out of range is an error, not clamped."""

from __future__ import annotations

from dataclasses import dataclass

from drf_spectacular.utils import OpenApiParameter

from synchronex.api import errors

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
        description=f"1–{MAX_LIMIT}, default {DEFAULT_LIMIT}.",
    ),
    OpenApiParameter(
        "offset",
        {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0},
        OpenApiParameter.QUERY,
        required=False,
        description=f"0–{MAX_OFFSET:,}, default 0.",
    ),
]


def _parse_int(raw: str | None, name: str, default: int, low: int, high: int | None) -> int:
    if raw is None:
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise errors.ValidationFailed.for_fields({name: f"{name} must be an integer."}) from None
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise errors.ValidationFailed.for_fields({name: f"{name} must be {bound}."})
    return value


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int

    @classmethod
    def from_request(cls, request) -> Page:
        params = request.query_params
        return cls(
            limit=_parse_int(params.get("limit"), "limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
            offset=_parse_int(params.get("offset"), "offset", 0, 0, MAX_OFFSET),
        )

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
