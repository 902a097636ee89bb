"""Stored memory on admin pages with the spaces' BYOK keys redacted (SPEC §9: secrets never
appear on admin pages).

A user may paste a provider key anywhere: a decision, a memory, a kernel section, a signal. The
exports and MCP answers replace it with ``[REDACTED:api_key]`` (``apps/memory/mif/export.py``'s
``Scrubber``); ``RedactedAdmin`` does the same on the admin's pages, with the keys of the row's space:

- a change page, and its history and delete pages (each starts from ``get_object``): every text,
  array and JSON column of the object, and of the rows it names (``redacted_relations``: a
  decision's predecessor is named by its text), after one query for the space's keys;
- a list: the columns it shows (``list_redacted_fields``; each row's checkbox label is the
  object's name, made of them too), after one query for the keys of every space on the page; a
  relation named there (``product``, loaded with the row by ``list_select_related``) is redacted
  whole, as the column shows its name;
- *Delete selected*: the objects its confirmation names and the history entries it writes.

Most spaces hold no key, and then nothing is scanned. Only the page's own copies of the rows are
redacted (these admins are read-only): the stored rows are never changed. A workspace's rows are
redacted of its members' personal keys too.

A key that no configured Fernet key decrypts cannot be looked for, so the rows of a space that
should be redacted of it fail closed: every text long enough to hold a key (``SECRET_MIN``) reads
``WITHHELD``, and a warning names the credential. The other spaces on the page show as usual.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable

from django.db.models import QuerySet, TextField
from django.db.models.functions import Cast

from apps.byok.fields import decrypt_or_none
from apps.byok.models import ByokCredential
from apps.memory.mif.export import SECRET_MIN, Scrubber, scrub_json
from apps.scopes.models import Space

WITHHELD = "[WITHHELD: a stored BYOK key of this space cannot be decrypted]"


def withheld(text: str) -> str:
    """The scrub of a space with a key that cannot be decrypted: a text that may hold it is not shown."""
    return WITHHELD if len(text) >= SECRET_MIN else text


def space_scrubbers(space_ids: Iterable) -> dict:
    """``{space id: Scrubber}`` for those of ``space_ids`` whose rows may hold BYOK keys (one
    query): a space's own keys and, for a workspace, its members' personal keys as well (a member
    may paste their own key into a workspace row; the API's readers redact them alike,
    ``export_scrubber``). A space one of whose keys cannot be decrypted gets ``withheld`` instead
    (the ciphertext is read as text and decrypted key by key, so it fails no other space)."""
    space_ids = list(space_ids)
    secret = Cast("secret", TextField())  # not the field's own decryption, which fails the whole query
    own = ByokCredential.objects.filter(space_id__in=space_ids).values_list("space_id", "id", secret)
    members = ByokCredential.objects.filter(
        space__kind=Space.Kind.PERSONAL, space__owner__memberships__space_id__in=space_ids
    ).values_list("space__owner__memberships__space_id", "id", secret)
    keys, unreadable = defaultdict(list), set()
    for space_id, credential_id, token in own.union(members, all=True):
        plaintext = decrypt_or_none(token, credential_id=credential_id)
        if plaintext is None:
            unreadable.add(space_id)
        else:
            keys[space_id].append(plaintext)
    scrubbers = {space_id: Scrubber(secrets) for space_id, secrets in keys.items()}
    scrubbers = {space_id: scrubber for space_id, scrubber in scrubbers.items() if scrubber.secrets}
    return {**scrubbers, **dict.fromkeys(unreadable, withheld)}


def redact_row(obj, scrub: Callable[[str], str], fields: Iterable[str] | None = None) -> None:
    """Every loaded text, array and JSON column of ``obj`` (or only ``fields``) through ``scrub``,
    on this instance only. Deferred columns are left alone: reading one would be a query."""
    deferred = obj.get_deferred_fields()
    wanted = None if fields is None else set(fields)
    for field in obj._meta.concrete_fields:
        if field.is_relation or field.attname in deferred or (wanted is not None and field.name not in wanted):
            continue
        value = getattr(obj, field.attname)
        if isinstance(value, str | list | dict):
            setattr(obj, field.attname, scrub_json(value, scrub))


class RedactedAdmin:
    """Mixin for the admin of a model holding stored memory (see the module's docstring)."""

    list_redacted_fields: tuple[str, ...] = ()
    redacted_relations: tuple[str, ...] = ()

    def space_of(self, obj):
        """The id of the space whose keys are redacted from ``obj``."""
        return obj.space_id

    def redact(self, obj, scrub: Callable[[str], str]) -> None:
        """``obj`` as its change page shows it: every column, and the rows it names."""
        redact_row(obj, scrub)
        for name in self.redacted_relations:
            related = getattr(obj, name)  # loaded now rather than by the page: the same query
            if related is not None:
                redact_row(related, scrub)

    def redact_listed(self, rows: list) -> list:
        """``rows`` as a list shows them: the listed columns, one query for all their spaces' keys."""
        if self.list_redacted_fields and rows:
            scrubbers = space_scrubbers({self.space_of(row) for row in rows})
            fields = [self.model._meta.get_field(name) for name in self.list_redacted_fields]
            relations = [field for field in fields if field.is_relation]
            for row in rows:
                scrub = scrubbers.get(self.space_of(row))
                if scrub is not None:
                    redact_row(row, scrub, self.list_redacted_fields)
                    for field in relations:
                        # Only a row loaded with this one: reading another would be a query per row.
                        related = field.get_cached_value(row, None)
                        if related is not None:
                            redact_row(related, scrub)
        return rows

    def loaded_rows(self, rows: list) -> list:
        # BoundedAdmin's hook: the objects a delete confirmation of a selection names.
        return self.redact_listed(rows)

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            scrub = space_scrubbers([self.space_of(obj)]).get(self.space_of(obj))
            if scrub is not None:
                self.redact(obj, scrub)
        return obj

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        if self.list_redacted_fields:
            # Evaluated here, and the page renders these same instances (the queryset's cache).
            self.redact_listed(list(changelist.result_list))
        return changelist

    def log_deletions(self, request, queryset):
        # History entries keep each object's name; *Delete selected* passes a queryset of rows
        # loaded fresh (a change page's delete passes the object get_object already redacted).
        if isinstance(queryset, QuerySet):
            queryset = self.redact_listed(list(queryset))
        return super().log_deletions(request, queryset)
