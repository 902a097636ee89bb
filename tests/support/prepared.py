"""The statements this test's database connection has prepared (psycopg server-side binding)."""

from contextlib import contextmanager

from django.db import connection
from django.test.utils import CaptureQueriesContext


def prepared_statements(containing: str = "") -> list[str]:
    """The texts of the connection's prepared statements, only those holding ``containing``."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall() if containing in row[0]]


@contextmanager
def never_prepared(marker: str):
    """Check that the block runs a statement holding ``marker`` (so the check below cannot pass for a
    statement whose text changed) and that the connection prepared none of them."""
    with CaptureQueriesContext(connection) as ran:
        yield
    assert any(marker in query["sql"] for query in ran.captured_queries), f"no statement holding {marker!r} ran"
    assert prepared_statements(marker) == []
