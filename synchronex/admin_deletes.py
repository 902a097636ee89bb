"""Admin deletes of a space's memory (users, workspaces, decisions, signals): never a 500 for a deadlock.

Such a delete takes the locks consolidation and the writers take first, in their order (the
services ``users_delete``, ``spaces_delete``, ``decisions_delete`` and ``signals_delete``, which
the admins' ``delete_model`` and ``delete_queryset`` call: a space's consolidation lock and
product rows, or for decisions and signals their product rows), so it waits for them instead of
closing a lock cycle. What PostgreSQL
still aborts as a deadlock's victim is run again (``retry_deadlocks``). Django's delete page runs
its whole work — the confirmation's collector, the history entry, the delete — in one
transaction, and only an outermost transaction can be run again, so the retry wraps the page
(``delete_view``) and the *Delete selected* action, not the delete alone. A delete still a victim
after the retries was rolled back whole: the admin says so in a message, nothing half-deleted.
"""

from __future__ import annotations

import functools

from django.contrib import messages
from django.db import OperationalError
from django.http import HttpResponseRedirect

from synchronex.db.deadlocks import is_deadlock, retry_deadlocks

NOT_DELETED = (
    "Nothing was deleted: the delete met concurrent writes to the same memory (a running "
    "consolidation, say) on every attempt and was undone. Try again in a moment."
)


class RetriedDeletesMixin:
    """For a ModelAdmin (first among its bases) whose deletes cascade into a space's memory."""

    def delete_view(self, request, object_id, extra_context=None):
        view = super().delete_view
        if request.method in ("GET", "HEAD", "OPTIONS", "TRACE"):
            return view(request, object_id, extra_context)  # the confirmation page writes nothing
        response = _settled(self, request, view, request, object_id, extra_context)
        if response is None:
            return HttpResponseRedirect(request.get_full_path())  # the confirmation page again
        return response

    def get_actions(self, request):
        actions = super().get_actions(request)
        if "delete_selected" in actions:
            action, name, description = actions["delete_selected"]
            actions["delete_selected"] = (_retried(action), name, description)
        return actions


def _retried(action):
    """Django's *Delete selected* action in a transaction of its own, run again as a deadlock's
    victim; ``None`` (back to the list, with the message) when the retries do not settle it."""

    @functools.wraps(action)
    def run(modeladmin, request, queryset):
        return _settled(modeladmin, request, action, modeladmin, request, queryset)

    return run


def _settled(modeladmin, request, work, *args):
    """``work(*args)``, run again as a deadlock's victim (``retry_deadlocks``); ``None``, with the
    message, when the retries do not settle it (its transaction rolled back whole)."""
    try:
        return retry_deadlocks(work)(*args)
    except OperationalError as exc:
        if not is_deadlock(exc):
            raise
        modeladmin.message_user(request, NOT_DELETED, messages.ERROR)
        return None
