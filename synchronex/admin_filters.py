"""Sidebar filters and search terms for admin lists of large, per-space tables.

Django's filter of a free-text column (``list_filter = ["provider"]``) runs ``SELECT DISTINCT``
over the whole table on every page, and lists other spaces' values even on a list narrowed to
one space. ``TopValuesFilter`` offers the most common values instead:

- on a list narrowed to a space (``?space=<id>``, as the memory overview links every list),
  those of that space, counted through its space-leading indexes: ``value (count)``;
- otherwise those of a sample: the first ``SAMPLE_ROWS`` rows the table yields (a scan that
  stops there), without counts, which a sample could not give. A value outside the sample is
  still reached with ``?<column>=<value>``, and shown as chosen.

A value holding a BYOK key of its space (a key pasted as a tag, a source, an agent name…) is not
offered: its label and its link would both show the key (SPEC §9: never on admin pages).
"""

from __future__ import annotations

import uuid
from collections import Counter

from django.contrib import admin
from django.db.models import Count, Lookup
from django.utils.text import smart_split, unescape_string_literal

SAMPLE_ROWS = 5000
CHOICES = 50


def listed_space(request) -> uuid.UUID | None:
    """The space a list is narrowed to (``?space=<id>``), or None."""
    try:
        return uuid.UUID(request.GET.get("space", ""))
    except ValueError:
        return None


class TopValuesFilter(admin.SimpleListFilter):
    """A filter on one column offering its most common values (see the module's docstring).

    Subclasses set ``parameter_name`` (the column, so that ``?<column>=`` links keep working) and
    ``title``; ``counted``, ``sampled`` and ``queryset`` are overridden for other shapes (tags).
    """

    def lookups(self, request, model_admin):
        rows = model_admin.model._default_manager.order_by()
        space_id = listed_space(request)
        if space_id is not None:
            counted = list(self.counted(rows.filter(space_id=space_id)))
            secret = _holds_key(request, [(space_id, value) for value, _ in counted])
            choices = [(value, f"{value} ({count:,})") for value, count in counted if value not in secret]
        else:
            pairs = [(space, value) for space, value in self.sampled(rows) if value]
            secret = _holds_key(request, pairs)
            sampled = Counter(value for _, value in pairs if value not in secret)
            ranked = sorted(sampled.items(), key=lambda item: (-item[1], item[0]))[:CHOICES]
            choices = [(value, value) for value, _ in ranked]
        chosen = self.value()
        if chosen and chosen not in {value for value, _ in choices}:
            choices.append((chosen, chosen))
        return choices

    def counted(self, rows):
        """(value, count) of the most common non-empty values of ``rows``, most common first."""
        column = self.parameter_name
        return (
            rows.exclude(**{column: ""})
            .values_list(column)
            .annotate(count=Count("pk"))
            .order_by("-count", column)[:CHOICES]
        )

    def sampled(self, rows):
        """(space id, value) of the first ``SAMPLE_ROWS`` of ``rows`` (one per row, or several for
        an array)."""
        return rows.values_list("space_id", self.parameter_name)[:SAMPLE_ROWS]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(**{self.parameter_name: self.value()})
        return queryset


def _holds_key(request, pairs: list[tuple]) -> set[str]:
    """The values of ``(space id, value)`` pairs that hold a BYOK key of their space. The keys are
    read once per page for all its filters (remembered on ``request``), and not at all when no
    value is as long as the shortest key redacted (``SECRET_MIN``)."""
    # Imported here: the filters load before the apps.
    from apps.memory.mif.export import SECRET_MIN
    from synchronex.admin_redaction import space_scrubbers

    pairs = [(space, value) for space, value in pairs if len(value) >= SECRET_MIN]
    known = request.__dict__.setdefault("_space_scrubbers", {})
    missing = {space for space, _ in pairs} - known.keys()
    if missing:
        known.update(dict.fromkeys(missing))
        known.update(space_scrubbers(missing))
    return {value for space, value in pairs if known[space] is not None and known[space](value) != value}


def top_values_filter(column: str, title: str | None = None) -> type[TopValuesFilter]:
    """A ``TopValuesFilter`` of ``column``, for ``list_filter``."""
    return type(
        f"{column.title().replace('_', '')}Filter",
        (TopValuesFilter,),
        {"parameter_name": column, "title": title or column.replace("_", " ")},
    )


# -- search -------------------------------------------------------------------------------------
class ILike(Lookup):
    """``lhs ILIKE rhs``: the operator a ``gin_trgm_ops`` index serves (Django's ``icontains``
    compares ``UPPER(lhs)``, an expression no index here is built on)."""

    lookup_name = "ilike"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} ILIKE {rhs}", [*lhs_params, *rhs_params]


class InArray(Lookup):
    """``lhs = ANY(ARRAY(subquery))``: the subquery runs once, before the scan, and the comparison
    is then an index condition on ``lhs``, also as one arm of an OR (an ``IN (subquery)`` is a
    join, which an OR of index scans cannot include)."""

    lookup_name = "in_array"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} = ANY(ARRAY{rhs})", [*lhs_params, *rhs_params]


def search_terms(search_term: str) -> list[str]:
    """The words of a search box, as Django splits them (a quoted phrase is one term)."""
    terms = []
    for bit in smart_split(search_term):
        if bit.startswith(('"', "'")) and bit[0] == bit[-1]:
            bit = unescape_string_literal(bit)
        if bit:
            terms.append(bit)
    return terms


def contains_pattern(term: str) -> str:
    """An ILIKE pattern matching ``term`` anywhere (its own ``%``, ``_`` and ``\\`` taken literally)."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
