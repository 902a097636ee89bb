"""What every ModelAdmin of the project shares so that its pages do bounded work on large tables.

``BoundedAdmin`` (a mixin, first among an admin's bases):

- no second, unfiltered ``COUNT(*)`` per list page (``show_full_result_count``): a list narrowed
  to a space counts that space only; "N results (M total)" becomes "N results (Show all)";
- delete confirmations (one object's page and the *Delete selected* action) count the rows a
  delete takes along, per model, instead of Django's nested list of every row: Django loads,
  links and renders each of them (a space with 50,000 cost events made a 6 MB page);
- lookups the database could only fail on are refused before they run (``SafeLookupsMixin`` in
  ``synchronex/admin_rules.py``: a regular expression, a NUL character, a malformed array…);
- an action's selection that holds a value no primary key can be (a tampered form) changes
  nothing and says so, where Django filtered with it and failed (a 500);
- with ``dates_in_space_only`` (the big per-space tables), the date drill-down only on a list
  narrowed to one space (``?space=<id>``). Django's runs ``MIN``/``MAX`` and ``SELECT DISTINCT
  date_trunc(…)`` over every row the list matches: on the whole list, a scan of the whole table
  on every page; in one space, the space-leading (space, date) index answers it. Elsewhere the
  date filter's fixed ranges (today, past 7 days, this month, this year) stay, and so do
  ``?<date>__year=``/``__month=``/``__day=`` links.

The counts come from Django's own deletion ``Collector``, the one ``delete()`` runs: rows it
loads anyway (models others point at) are counted in memory, rows it removes with a single
``DELETE`` (no signal, nothing pointing at them) are counted with ``COUNT`` and never loaded.
Whether the delete is allowed is answered as Django's ``get_deleted_objects`` answers it: each
registered model's admin is asked ``has_delete_permission`` for every row the collector loads;
for rows removed by one query it is asked once for the model (``obj=None``), since loading them
just to ask would be the unbounded work this avoids (no admin here decides per row). Protected
rows stop the delete as before; at most ``SHOWN`` of them are named.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import islice

from django.contrib import messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import quote
from django.core.exceptions import ValidationError
from django.db import models, router
from django.db.models.deletion import Collector
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.text import capfirst

from synchronex.admin_filters import listed_space
from synchronex.admin_rules import CheckedChangeList, SafeLookupsMixin

SHOWN = 20  # objects named on a delete page (the selected ones, protected ones); the rest are counted


class _CountingCollector(Collector):
    """Django's collector that, like the admin's ``NestedObjects``, records protected rows and
    goes on instead of stopping at the first; unlike it, it keeps Django's fast deletes."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.protected = set()

    def collect(self, objs, *args, **kwargs):
        try:
            return super().collect(objs, *args, **kwargs)
        except models.ProtectedError as error:
            self.protected.update(error.protected_objects)
        except models.RestrictedError as error:
            self.protected.update(error.restricted_objects)


def _row_counts(collector: _CountingCollector) -> dict:
    """Rows per model that the collected delete removes: loaded ones, and the distinct rows of
    the model's single-query deletes (one model can be reached along several paths)."""
    counts = {model: len(instances) for model, instances in collector.data.items()}
    by_model = defaultdict(list)
    for queryset in collector.fast_deletes:
        by_model[queryset.model].append(queryset)
    for model, querysets in by_model.items():
        loaded = [obj.pk for obj in collector.data.get(model, ())]
        keys = [queryset.exclude(pk__in=loaded) if loaded else queryset for queryset in querysets]
        keys = [queryset.values("pk") for queryset in keys]
        distinct = keys[0].union(*keys[1:]) if len(keys) > 1 else keys[0]
        counts[model] = counts.get(model, 0) + distinct.count()
    return {model: count for model, count in counts.items() if count}


def _deletable(request, admin_site, collector: _CountingCollector, model) -> bool:
    if not admin_site.is_registered(model):
        return True  # Django asks only registered models' admins
    model_admin = admin_site.get_model_admin(model)
    removed_by_query = any(queryset.model is model for queryset in collector.fast_deletes)
    if removed_by_query and not model_admin.has_delete_permission(request):
        return False
    return all(model_admin.has_delete_permission(request, obj) for obj in collector.data.get(model, ()))


def _named(obj, admin_site):
    """``Model: <a href=change page>obj</a>``, as Django's delete pages name an object."""
    opts = obj._meta
    label = f"{capfirst(opts.verbose_name)}: {obj}"
    if not admin_site.is_registered(type(obj)):
        return label
    try:
        url = reverse(f"{admin_site.name}:{opts.app_label}_{opts.model_name}_change", None, (quote(obj.pk),))
    except NoReverseMatch:
        return label
    return format_html('{}: <a href="{}">{}</a>', capfirst(opts.verbose_name), url, obj)


def counted_deleted_objects(objs, request, admin_site, loaded_rows=None):
    """``get_deleted_objects`` with counts: ``(deleted_objects, model_count, perms_needed, protected)``.

    ``deleted_objects`` names the selected objects (at most ``SHOWN``) with, nested, one line per
    other model: its verbose name and how many of its rows go too. ``loaded_rows``, given the
    selected objects a queryset ``objs`` yields to be named, returns them as the page may show
    them (``RedactedAdmin`` redacts their text).
    """
    try:
        first = objs[0]
    except IndexError:
        return [], {}, set(), []
    root_model = type(first)
    collector = _CountingCollector(using=router.db_for_write(root_model), origin=objs)
    collector.collect(objs)
    counts = _row_counts(collector)

    perms_needed = {
        model._meta.verbose_name for model in counts if not _deletable(request, admin_site, collector, model)
    }
    protected = [_named(obj, admin_site) for obj in islice(collector.protected, SHOWN)]
    if len(collector.protected) > SHOWN:
        protected.append(f"… and {len(collector.protected) - SHOWN:,} more")

    selected = len(objs) if isinstance(objs, (list, tuple)) else objs.count()
    shown = list(objs[:SHOWN])
    if loaded_rows is not None and not isinstance(objs, (list, tuple)):
        shown = loaded_rows(shown)
    deleted = [_named(obj, admin_site) for obj in shown]
    if selected > SHOWN:
        deleted.append(f"… and {selected - SHOWN:,} more {root_model._meta.verbose_name_plural}")
    along = [
        f"{capfirst(model._meta.verbose_name_plural)}: {count - selected if model is root_model else count:,}"
        for model, count in counts.items()
        if model is not root_model or count > selected
    ]
    if along and selected == 1:
        deleted.append(along)  # nested under the object, as Django nests its related rows
    elif along:
        deleted.extend(["With them:", along])
    model_count = {model._meta.verbose_name_plural: count for model, count in counts.items()}
    return deleted, model_count, perms_needed, protected


def _is_primary_key(model, value: str) -> bool:
    """Whether ``value`` can be a primary key of ``model`` (a query comparing with it can run)."""
    if "\x00" in value:
        return False  # no PostgreSQL text holds one
    try:
        model._meta.pk.get_prep_value(model._meta.pk.to_python(value))
    except (ValidationError, ValueError, TypeError):
        return False
    return True


class SpaceDatesChangeList(CheckedChangeList):
    """A changelist whose date drill-down shows only on a list narrowed to one space."""

    def __init__(self, request, model, list_display, list_display_links, list_filter, date_hierarchy, *args):
        if listed_space(request) is None:
            date_hierarchy = None
        super().__init__(request, model, list_display, list_display_links, list_filter, date_hierarchy, *args)


class BoundedAdmin(SafeLookupsMixin):
    """Mixin for every ModelAdmin here (see the module's docstring)."""

    show_full_result_count = False
    dates_in_space_only = False  # True on tables with a (space, date) index and too many rows to scan

    def get_changelist(self, request, **kwargs):
        return SpaceDatesChangeList if self.dates_in_space_only else super().get_changelist(request, **kwargs)

    def get_deleted_objects(self, objs, request):
        return counted_deleted_objects(objs, request, self.admin_site, self.loaded_rows)

    def response_action(self, request, queryset):
        # Django runs ``queryset.filter(pk__in=selected)`` with the posted values unchecked.
        selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
        if not all(_is_primary_key(self.model, value) for value in selected):
            msg = "The selection is not valid. No items have been changed."
            self.message_user(request, msg, messages.WARNING)
            return None  # the changelist then redirects to itself, as for an empty selection
        return super().response_action(request, queryset)

    def loaded_rows(self, rows: list) -> list:
        """Rows a page loaded itself (the selection it names), as that page may show them."""
        return rows
