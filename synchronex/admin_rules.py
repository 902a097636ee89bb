"""Rules the admin classes of every app share: what staff may delete, and which lookups they may run."""

from __future__ import annotations

from django.core.exceptions import FieldDoesNotExist
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


def touches_secret(model, lookup: str) -> bool:
    """Whether ``lookup`` (``a__b__startswith``) reaches a secret field of ``model`` or a related one."""
    for part in lookup.split(LOOKUP_SEP):
        try:
            field = model._meta.get_field(part)
        except FieldDoesNotExist:
            return False  # a transform or lookup name: no further fields
        if field.name in SECRET_FIELDS:
            return True
        if not field.is_relation or field.related_model is None:
            return False
        model = field.related_model
    return False


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
