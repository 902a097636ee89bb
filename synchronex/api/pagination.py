"""``limit``/``offset`` paging with strict bounds (SPEC §1): out of range is an error, not clamped."""

from __future__ import annotations

from dataclasses import dataclass

from synchronex.api import errors

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


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
