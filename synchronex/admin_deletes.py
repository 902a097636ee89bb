"""Admin deletes of a space's memory (users, workspaces, decisions, signals): never a 500 for a
deadlock, nor for rows written into that memory while the delete runs.

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

Rows a member writes into a space after the delete's collector read it (a first kernel, a new
product, a consolidation job: nothing the delete holds makes their writers wait) are not in the
delete, and their keys refuse its commit (a foreign-key violation: Django's keys are checked at
COMMIT). That delete did nothing either and is run again the same way: the next run's collector
reads them. What a run that was undone said (its success message) is held back with it.
"""

from __future__ import annotations

import functools

from django.contrib import messages
from django.db import IntegrityError, OperationalError
from django.http import HttpResponseRedirect

from synchronex.db.deadlocks import is_deadlock, retry_deadlocks
from synchronex.db.references import is_foreign_key_violation

NOT_DELETED = (
    "Nothing was deleted: the delete met concurrent writes to the same memory (a running "
    "consolidation, say) on every attempt and was undone. Try again in a moment."
)
# The request's attribute holding what a delete's run says until the run has committed (``_settled``).
HELD_MESSAGES = "_synchronex_held_messages"


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

    def message_user(self, request, *args, **kwargs):
        held = getattr(request, HELD_MESSAGES, None)
        if held is None:
            return super().message_user(request, *args, **kwargs)
        held.append((args, kwargs))
        return None

    def get_actions(self, request):
        actions = super().get_actions(request)
        if "delete_selected" in actions:
            action, name, description = actions["delete_selected"]
            actions["delete_selected"] = (_retried(action), name, description)
        return actions


def _retried(action):
    """Django's *Delete selected* action in a transaction of its own, run again when it was undone
    (``_settled``); ``None`` (back to the list, with the message) when the retries do not settle it."""

    @functools.wraps(action)
    def run(modeladmin, request, queryset):
        return _settled(modeladmin, request, action, modeladmin, request, queryset)

    return run


def _settled(modeladmin, request, work, *args):
    """``work(*args)``, run again when it was undone (``_undone``: ``retry_deadlocks``); ``None``,
    with the message, when the runs do not settle it (its transaction rolled back whole).

    What it says is said once it has committed: a commit refused comes after Django's success
    message, which the run that is undone must not leave behind.
    """
    said: list = []

    def run(*args):
        said.clear()
        return work(*args)

    setattr(request, HELD_MESSAGES, said)
    try:
        response = retry_deadlocks(run, rerun=_undone)(*args)
    except (OperationalError, IntegrityError) as exc:
        if not _undone(exc):
            raise
        said[:] = [((NOT_DELETED, messages.ERROR), {})]  # in place of what the undone runs said
        response = None
    finally:
        delattr(request, HELD_MESSAGES)
    for message, options in said:
        modeladmin.message_user(request, *message, **options)
    return response


def _undone(exc: BaseException) -> bool:
    """A deadlock's victim, or a commit refused by rows written into the memory after the delete
    read it (module docstring): either did nothing, and a new run may settle it."""
    return is_deadlock(exc) or is_foreign_key_violation(exc)
