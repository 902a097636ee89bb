"""Model instances from written-out statements, for the few reads every API request makes.

Compiling an ORM query costs several times more than running it on the hot path (the credential
lookup, the active space, the kernel read), so those statements are written out once and their
rows turned into instances here, with each field's database converter applied as the ORM would
(``JSONField`` text becomes a dict). Everything else uses the ORM.
"""

from __future__ import annotations

import contextlib

from django.db import connection


class Rows:
    """The concrete columns of one model under a table alias, and a builder for its rows.

    ``names`` (of fields) narrows the columns; the instances then defer the others, as ``.only()``.
    """

    def __init__(self, model, alias: str, names: list[str] | None = None):
        self.model = model
        fields = [
            field for field in model._meta.concrete_fields if names is None or field.name in names or field.primary_key
        ]
        self.width = len(fields)
        self.columns = ", ".join(f"{alias}.{field.column}" for field in fields)
        self.attnames = [field.attname for field in fields]
        self.converters = [
            (index, field.from_db_value) for index, field in enumerate(fields) if hasattr(field, "from_db_value")
        ]

    def build(self, values):
        """An instance from this model's slice of a row (a sequence of ``width`` values)."""
        if self.converters:
            values = list(values)
            for index, convert in self.converters:
                values[index] = convert(values[index], None, connection)
        return self.model.from_db(connection.alias, self.attnames, values)

    def one(self, sql: str, params):
        """The instance of a statement's first row (its columns: ``columns``), or None."""
        rows = fetch_all(sql, params)
        return self.build(rows[0]) if rows else None


def fetch_all(sql: str, params) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


@contextlib.contextmanager
def unprepared():
    """A cursor whose statements are never prepared, so that each is planned for its own parameters.

    Connections prepare the statements they repeat (``DB_SERVER_SIDE_BINDING`` in settings), and
    PostgreSQL may then reuse one generic plan whatever the parameters. Searches must not: how
    many rows a query's words match decides their best plan (an index scan for a rare word, a
    walk of the newest rows for a common one); measured on 100,000 decisions, generic plans made
    quoted phrases 1.6x and tag listings 2x slower. Queries the ORM runs in here are covered too.
    """
    connection.ensure_connection()
    raw = connection.connection
    threshold = raw.prepare_threshold
    raw.prepare_threshold = None
    try:
        with connection.cursor() as cursor:
            yield cursor
    finally:
        raw.prepare_threshold = threshold
