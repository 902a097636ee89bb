"""``limit``/``offset`` paging with strict bounds (SPEC §1): out of range is an error, not clamped."""

from __future__ import annotations

from dataclasses import dataclass

from drf_spectacular.utils import OpenApiParameter

from synchronex.api import errors

DEFAULT_LIMIT = 20
MAX_LIMIT = 100

# The two query parameters of every paged route, for ``extend_schema(parameters=...)``.
PAGE_PARAMETERS = [
    OpenApiParameter("limit", int, OpenApiParameter.QUERY, required=False, description="1–100, default 20."),
    OpenApiParameter("offset", int, OpenApiParameter.QUERY, required=False, description="≥ 0."),
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
            offset=_parse_int(params.get("offset"), "offset", 0, 0, 10**9),
        )

    def slice(self, items):
        return items[self.offset : self.offset + self.limit]

    def envelope(self, results: list, count: int) -> dict:
        end = self.offset + len(results)
        return {
            "results": results,
            "count": count,
            "limit": self.limit,
            "offset": self.offset,
            "next_offset": end if end < count else None,
        }

    def of(self, queryset, serializer_class) -> dict:
        """Count, slice and serialize one page of ``queryset`` into the paged envelope."""
        count = queryset.count()
        rows = list(self.slice(queryset)) if self.offset < count else []
        return self.envelope(serializer_class(rows, many=True).data, count)
