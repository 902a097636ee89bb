"""Rules the admin classes of every app share: what staff may delete, and which lookups they may run."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import EmptyResultSet, FieldDoesNotExist, FullResultSet, ValidationError
from django.db.models import GeneratedField, JSONField
from django.db.models.constants import LOOKUP_SEP

# Columns that hold a credential or lead to one (a digest or checksum is the lookup key of a
# token; a fingerprint identifies a provider key; a password hash can be cracked offline). A
# changelist filter on one (``?digest__startswith=ab``) answers "which rows match this guess",
# which reads the value out a character at a time.
SECRET_FIELDS = frozenset(
    {
        "digest",
        "token",
        "token_checksum",
        "code",
        "code_challenge",
        "nonce",
        "claims",
        "fingerprint",
        "secret",
        "client_secret",
        "password",
    }
)


def lookup_fields(model, lookup: str) -> tuple[list, list[str]]:
    """The fields ``lookup`` (``a__b__startswith``) names from ``model`` through its relations, and
    the transforms and lookup after the last of them: ``([tags], ["contains"])``."""
    parts = lookup.split(LOOKUP_SEP)
    fields = []
    for index, part in enumerate(parts):
        try:
            field = model._meta.get_field(part)
        except FieldDoesNotExist:
            return fields, parts[index:]  # a transform or lookup name: no further fields
        fields.append(field)
        if not field.is_relation or field.related_model is None:
            return fields, parts[index + 1 :]
        model = field.related_model
    return fields, []


def touches_secret(model, lookup: str) -> bool:
    """Whether ``lookup`` (``a__b__startswith``) reaches a secret field of ``model`` or a related one."""
    return any(field.name in SECRET_FIELDS for field in lookup_fields(model, lookup)[0])


# Lookups refused outright (a 400), each of which answered 500. PostgreSQL's regular expressions are
# not Python's, so a pattern can only be checked by running it (``?name__regex=(`` was a database
# error), and no index serves one; ``range`` gets the query string's one value, which Django reads a
# character per bound; ``unaccent`` needs an extension this database does not install. Search, the
# filters, ``__contains``, ``__gte`` and ``__lt`` remain.
REFUSED_LOOKUPS = frozenset({"regex", "iregex", "range", "unaccent"})

# Lookups of an array column whose value PostgreSQL reads as an array literal (``?tags__contains=x``
# was "malformed array literal", a 500); ``len``, an index, ``isnull`` and the text patterns
# (``icontains``…) compare something else.
ARRAY_VALUE_LOOKUPS = frozenset({"exact", "contains", "contained_by", "overlap", "gt", "gte", "lt", "lte", "in"})
# A one-dimensional literal as PostgreSQL's array_in accepts it: ``{}``, ``{a, b c, "d,\\"e"}``.
_ELEMENT = r'"(?:[^"\\]|\\.)*"|[^\s{}",\\](?:[^{}",\\]*[^\s{}",\\])?'
ARRAY_LITERAL = re.compile(rf"\s*\{{\s*(?:(?:{_ELEMENT})\s*(?:,\s*(?:{_ELEMENT})\s*)*)?\}}\s*", re.ASCII | re.DOTALL)


def _target(model, lookup: str):
    """``(column field, rest)`` of ``lookup`` (``(None, parts)`` when it names no field): a generated
    column stands for its output field."""
    fields, rest = lookup_fields(model, lookup)
    field = fields[-1] if fields else None
    return (field.output_field if isinstance(field, GeneratedField) else field), rest


def lookup_refused(model, lookup: str) -> bool:
    """Whether ``lookup`` is one the database could only fail on, whatever its value."""
    if REFUSED_LOOKUPS.intersection(lookup.split(LOOKUP_SEP)):
        return True
    target, rest = _target(model, lookup)
    # Of a number or a date, ``contained_by`` (django.contrib.postgres) takes a range literal.
    if rest and rest[-1] == "contained_by":
        return not (isinstance(target, JSONField) or (isinstance(target, ArrayField) and len(rest) == 1))
    return False


def lookup_value_problem(model, lookup: str, values: list[str]) -> str | None:
    """Why the database could only fail on ``?<lookup>=<value>`` (each of ``values``), or None.

    A NUL character is stored by no PostgreSQL text or JSON value, so psycopg and the server refuse
    it in any comparison; an array column's value must be an array literal.
    """
    if "\x00" in lookup or any("\x00" in value for value in values):
        return "A filter value may not contain a NUL character."
    target, rest = _target(model, lookup)
    if isinstance(target, ArrayField) and (not rest or (len(rest) == 1 and rest[0] in ARRAY_VALUE_LOOKUPS)):
        items = [item for value in values for item in (value.split(",") if rest == ["in"] else [value])]
        if not all(ARRAY_LITERAL.fullmatch(item) for item in items):
            return f"{lookup} takes an array literal, such as {{a,b}}."
    return None


def drill_down_problem(params: dict, field: str | None) -> str | None:
    """Why the date drill-down (``date_hierarchy``) of ``params`` cannot be listed, or None.

    Django lists a year, month or day as ``start <= date < end``, ``end`` the first instant after
    it; past 9999-12-31 no date-time holds that end (``?created_at__year=9999``, ``…__month=12``,
    ``…__day=31`` of December 9999), and computing it raised ValueError or OverflowError, a 500.
    Such a drill-down is refused as an impossible date is (``?created_at__year=0``, which Django
    itself answers with the list's ``?e=1`` redirect), not listed without an end: the days before
    December 9999 still list, and a row dated later (a generic memory may be imported with one) is
    found by sorting the list on that date.
    """
    year = params.get(f"{field}__year") if field else None
    if year is None:
        return None
    month, day = params.get(f"{field}__month"), params.get(f"{field}__day")
    try:
        start = datetime(int(year[-1]), int(month[-1]) if month else 1, int(day[-1]) if day else 1)
    except ValueError:
        return None  # not a date: Django answers it (IncorrectLookupParameters)
    except OverflowError:
        # A number no C long holds (``?created_at__year=99999999999999999999``): Django catches
        # only ValueError there.
        return "The date drill-down names no date."
    try:
        if day:
            start + timedelta(days=1)
        elif month:
            start + timedelta(days=32)  # Django's step to the next month
        else:
            start.replace(year=start.year + 1)
    except (ValueError, OverflowError):
        return "The date drill-down reaches past 9999-12-31, the last date there is."
    return None


class CheckedChangeList(ChangeList):
    """Django's changelist, answering as it answers any bad lookup (IncorrectLookupParameters, the
    list's ``?e=1`` redirect) a filter value the database could only fail on, and a date
    drill-down past the calendar's end (``drill_down_problem``). Django checks a value only while
    building the filter; the rest surfaced as a database error (a 500) while counting."""

    def get_filters(self, request):
        params = self.get_filters_params()
        # Every parameter, the custom filters' (``?tag=``, ``?provider=``) included.
        for lookup, values in params.items():
            problem = lookup_value_problem(self.model, lookup, values)
            if problem:
                raise IncorrectLookupParameters(problem)
        if problem := drill_down_problem(params, self.date_hierarchy):
            raise IncorrectLookupParameters(problem)
        return super().get_filters(request)

    def get_queryset(self, request, exclude_parameters=None):
        queryset = super().get_queryset(request, exclude_parameters)
        try:
            # Compiling runs the fields' value conversions (DOT's ``?resource=x`` raised a
            # ValidationError there) without a query; nothing else is checked before the count.
            queryset.query.sql_with_params()
        except (EmptyResultSet, FullResultSet):
            pass
        except (ValidationError, ValueError, TypeError, OverflowError) as error:
            # OverflowError: a year no date holds (``?last_login__year=99999999999999999999``),
            # whose bounds Django computes while compiling.
            raise IncorrectLookupParameters(error) from error
        return queryset


class SafeLookupsMixin:
    """Changelist lookups the database cannot fail on: ``lookup_refused`` ones answer 400, and values
    are checked first (``CheckedChangeList``). Part of ``BoundedAdmin``, so of every admin here."""

    def lookup_allowed(self, lookup, value, request=None):
        if lookup_refused(self.model, lookup):
            return False
        return super().lookup_allowed(lookup, value, request)

    def get_changelist(self, request, **kwargs):
        return CheckedChangeList


class NoSecretLookupsMixin:
    """Refuses changelist lookups on secret columns (a 400, as Django answers any disallowed lookup)."""

    def lookup_allowed(self, lookup, value, request=None):
        if touches_secret(self.model, lookup):
            return False
        return super().lookup_allowed(lookup, value, request)


def on_own_pages(model_admin, request) -> bool:
    """Whether ``request`` is for one of ``model_admin``'s own pages (its list, change or delete view).

    Django asks ``has_delete_permission`` of every row a delete cascades to, so a rule that only
    forbids deleting rows from their own pages must tell those pages from a cascade's.
    """
    match = request.resolver_match
    prefix = f"{model_admin.opts.app_label}_{model_admin.opts.model_name}_"
    return match is not None and (match.url_name or "").startswith(prefix)


class DeletedOnlyWithOwnerMixin:
    """No delete on the model's own pages; still deleted with the space or user it belongs to.

    For records that change only through the API (which validates and versions them) and that the
    admin is for inspecting (SPEC §11). A record written again after a delete starts again at
    version 1, so an ETag (If-Match) kept from before would match a different record.
    """

    def has_delete_permission(self, request, obj=None):
        if on_own_pages(self, request):
            return False
        return super().has_delete_permission(request, obj)
