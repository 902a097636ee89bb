"""A statement sent ahead of the code that reads its result, so the server works while Python runs.

``send(connection, sql, params)`` sends one prepared statement on Django's connection with
libpq's asynchronous call and returns at once; ``Ahead.rows()`` later waits for its rows. The
backend (``base.DatabaseWrapper``) reads an unread statement before anything else uses the
connection (a cursor, a commit, a rollback, the health check, closing), so the connection is never
found busy.

Only outside a transaction: the statement then commits on its own, and if it fails nothing else
is disturbed; the caller runs the statement the usual way instead. Statements are prepared per
connection under names of their own (like psycopg's ``_pg3_*``): the first send on a connection
prepares it (asynchronously too; the caller runs the statement itself that time), later sends
execute it. When the server no longer knows a name (psycopg deallocates every prepared statement
of a connection after a rollback), that send fails and the next one prepares it again.
Parameters are text or integers.
"""

from __future__ import annotations

import itertools
import select
import time
import weakref

import psycopg
from django.db import Error as DjangoDatabaseError
from psycopg import pq
from psycopg.adapt import Transformer

_BIGINT = 20  # the type oid of an integer parameter; text is left to the server to infer
_UNKNOWN_STATEMENT = b"26000"  # invalid_sql_statement_name: the prepared statement is gone
_numbers = itertools.count()
# Per psycopg connection: the name each statement is prepared under (sql → name).
_names: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class Ahead:
    """One statement in flight on a connection: executing it, or preparing it.

    The first time a connection meets a statement, what is sent ahead is its preparation, and
    ``rows()`` gives None (the caller runs the statement itself that once): no request waits for
    a preparation, even on connections that live for one request (``DB_CONN_MAX_AGE=0``)."""

    def __init__(self, wrapper, sql: str, params: list):
        if any(isinstance(p, bool) or not isinstance(p, (str, int)) for p in params):
            raise TypeError("a statement sent ahead takes text and integer parameters only")
        self._wrapper, self._raw, self._sql, self._params = wrapper, wrapper.connection, sql, params
        self._rows: list[tuple] | None = None
        self._started = time.perf_counter()
        pgconn = self._raw.pgconn
        self._name = _names.setdefault(self._raw, {}).get(sql)
        self._preparing = self._name is None
        if self._preparing:
            self._name = f"sx_ahead_{next(_numbers)}".encode()
            types = [_BIGINT if isinstance(p, int) else 0 for p in params]
            pgconn.send_prepare(self._name, _numbered(sql, len(params)).encode(), types)
        else:
            pgconn.send_query_prepared(self._name, [str(p).encode() for p in params])
        while pgconn.flush():  # a statement this small hardly ever makes this loop turn
            select.select([], [pgconn.socket], [])
        wrapper.ahead = self

    def rows(self) -> list[tuple] | None:
        """The statement's rows (waiting for them if need be); None if it failed or was only
        being prepared."""
        if self._wrapper.ahead is self:
            self._wrapper.ahead = None
            self._read()
        return self._rows

    def _read(self) -> None:
        results = []
        try:
            while (result := self._raw.pgconn.get_result()) is not None:
                results.append(result)
        except psycopg.Error:
            results = []
        ok = len(results) == 1 and results[0].status in (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK)
        if self._preparing:
            if ok:
                _names.setdefault(self._raw, {})[self._sql] = self._name
            return
        if ok:
            loader = Transformer(self._raw)
            loader.set_pgresult(results[0])
            self._rows = loader.load_rows(0, results[0].ntuples, tuple)
        elif results and results[-1].error_field(pq.DiagnosticField.SQLSTATE) == _UNKNOWN_STATEMENT:
            _names.get(self._raw, {}).pop(self._sql, None)
        if self._wrapper.queries_logged:
            duration = time.perf_counter() - self._started
            sql = psycopg.ClientCursor(self._raw).mogrify(self._sql, self._params)  # as Django logs it
            self._wrapper.queries_log.append({"sql": sql, "time": f"{duration:.3f}"})


def send(wrapper, sql: str, params: list) -> Ahead | None:
    """Send ``sql`` ahead on Django's connection ``wrapper``; None when it cannot be (a
    transaction is open, another statement is out, parameters are bound client-side, or the
    connection fails: the caller then runs the statement the usual way and meets the failure)."""
    if not wrapper.settings_dict["OPTIONS"].get("server_side_binding"):
        return None  # no prepared statements behind a pooler in transaction mode
    try:
        wrapper.ensure_connection()
        raw = wrapper.connection
        if (
            wrapper.ahead is not None
            or not raw.autocommit
            or raw.pgconn.transaction_status != pq.TransactionStatus.IDLE
        ):
            return None
        return Ahead(wrapper, sql, params)
    except (psycopg.Error, DjangoDatabaseError):
        return None


def _numbered(sql: str, count: int) -> str:
    """``sql`` with its ``count`` positional ``%s`` placeholders numbered as PostgreSQL's ``$n``."""
    parts = sql.split("%s")
    if len(parts) != count + 1 or any("%" in part for part in parts):
        raise ValueError("a statement sent ahead has only positional %s placeholders")
    return "".join(f"{part}${n}" for n, part in enumerate(parts[:-1], 1)) + parts[-1]
