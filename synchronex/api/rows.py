"""Model instances from written-out statements, for the few reads every API request makes.

Compiling an ORM query costs several times more than running it on the hot path (the credential
lookup, the active space, the kernel read), so those statements are written out once and their
rows turned into instances here, with each field's database converter applied as the ORM would
(``JSONField`` text becomes a dict). Everything else uses the ORM.
"""

from __future__ import annotations

import contextlib

from django.db import DEFAULT_DB_ALIAS, connection
from django.db.models.base import Model, ModelState
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.signals import post_init, pre_init


class Rows:
    """The concrete columns of one model under a table alias, and a builder for its rows.

    ``names`` (of fields) narrows the columns; the instances then defer the others, as ``.only()``.

    Instances are built as ``Model.from_db`` leaves them (each value in the instance's
    ``__dict__`` under its field's attname, the others deferred; ``_state`` not adding, on this
    database) without running ``Model.__init__``, which costs ~40 µs per decision (a search
    page builds 40 instances). That is only done for models whose fields store plain attributes
    and that nobody watches with ``pre_init``/``post_init``; any other model goes through
    ``from_db``.
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
        self.plain = _stores_plain_attributes(model, fields)

    def build(self, values):
        """An instance from this model's slice of a row (a sequence of ``width`` values)."""
        if self.converters:
            values = list(values)
            for index, convert in self.converters:
                values[index] = convert(values[index], None, connection)
        model = self.model
        if not self.plain or _watched(model):
            return model.from_db(DEFAULT_DB_ALIAS, self.attnames, values)
        instance = model.__new__(model)
        instance.__dict__.update(zip(self.attnames, values, strict=True))
        instance._state = state = ModelState()
        state.adding, state.db = False, DEFAULT_DB_ALIAS
        return instance

    def one(self, sql: str, params):
        """The instance of a statement's first row (its columns: ``columns``), or None."""
        rows = fetch_all(sql, params)
        return self.build(rows[0]) if rows else None


def _watched(model) -> bool:
    """Whether a ``pre_init``/``post_init`` receiver listens to ``model``. Asking each signal
    costs about 2.5 µs an instance; that no receiver exists at all (this project registers none)
    is known at once."""
    if not pre_init.receivers and not post_init.receivers:
        return False
    return pre_init.has_listeners(model) or post_init.has_listeners(model)


def _stores_plain_attributes(model, fields) -> bool:
    """Whether ``Model.__init__`` would only put each field's value in ``__dict__``: no custom
    ``__init__``/``from_db``, and no field whose attribute has a setter other than a foreign
    key's id (which, on a new instance, just stores the value)."""
    if model.__init__ is not Model.__init__ or model.from_db.__func__ is not Model.from_db.__func__:
        return False
    for field in fields:
        descriptor = getattr(model, field.attname, None)
        if hasattr(descriptor, "__set__") and not isinstance(descriptor, ForeignKeyDeferredAttribute):
            return False
    return True


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
