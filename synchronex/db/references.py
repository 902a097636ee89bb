"""Writes that meet a concurrent delete of their space (the admin deleting a workspace or a user).

Django declares every foreign key DEFERRABLE INITIALLY DEFERRED, so PostgreSQL checks the keys a
transaction wrote when it commits: a row written into a space that a delete removed meanwhile is
refused only then (SQLSTATE 23503, an ``IntegrityError`` from COMMIT), after the code that wrote it
has returned and whatever it catches. The same check refuses a delete whose rows were written
after its collector read them. Here: telling that error apart, and holding a space's row so that
a write which commits in several transactions stops cleanly instead.
"""

from __future__ import annotations

from django.apps import apps
from django.db import DatabaseError, IntegrityError, connection

FOREIGN_KEY_VIOLATION = "23503"


def is_foreign_key_violation(exc: BaseException) -> bool:
    """Whether ``exc`` (Django's wrapper or psycopg's own error) is a foreign-key violation."""
    cause = exc.__cause__ if isinstance(exc, IntegrityError) else exc
    return getattr(cause, "sqlstate", None) == FOREIGN_KEY_VIOLATION


def names_missing_space(exc: BaseException) -> bool:
    """Whether ``exc`` is a foreign-key violation of a key that references a space.

    Only the admin deletes spaces (``spaces_delete``, ``users_delete``) and it answers its own
    violations (``admin_deletes``): anywhere else, such a violation is a row written into a space
    that was deleted meanwhile. Which table the constraint references is asked of the catalog
    (one query, on this rare path): the name Django gives a constraint is cut past 63 characters,
    the referenced table first.
    """
    if not is_foreign_key_violation(exc):
        return False
    diag = (exc.__cause__ if isinstance(exc, IntegrityError) else exc).diag
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT EXISTS (SELECT FROM pg_constraint WHERE contype = 'f' AND conname = %s"
                " AND conrelid = to_regclass(format('%%I.%%I', %s::text, %s::text)) AND confrelid = %s::regclass)",
                [diag.constraint_name, diag.schema_name, diag.table_name, _space_table()],
            )
            return cursor.fetchone()[0]
    except DatabaseError:
        return False  # the database cannot answer now: left to the caller's other rules


def space_row_held(space_id) -> bool:
    """Hold the space's row FOR KEY SHARE until the transaction ends; False when it is gone.

    The lock is the one the commit's own key check takes, so taken last in a transaction it adds
    no lock cycle: a delete that holds the row is waited for (and the space is then gone), and a
    delete that comes later waits for this commit. Must run inside a transaction.
    """
    meta = apps.get_model("scopes", "Space")._meta
    table, column = connection.ops.quote_name(meta.db_table), connection.ops.quote_name(meta.pk.column)
    with connection.cursor() as cursor:
        # Raw: Django's select_for_update has no FOR KEY SHARE.
        cursor.execute(f"SELECT 1 FROM {table} WHERE {column} = %s FOR KEY SHARE", [space_id])
        return cursor.fetchone() is not None


def _space_table() -> str:
    return apps.get_model("scopes", "Space")._meta.db_table
