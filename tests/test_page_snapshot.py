"""Every simple paged list reads its ``count`` and its page from one snapshot (SPEC §1: ``count`` is
the total behind the page), as the searches do: a row written while the request reads must never
make a page hold more (or fewer) results than its own ``count``, nor end a walk (``next_offset``
null) before a row that was there all along."""

from __future__ import annotations

import itertools
from contextlib import contextmanager

import pytest
from django.db import connection

from apps.byok.services import byok_credential_create
from apps.byok.tests.helpers import fresh_key
from apps.identity.services import kernel_update
from apps.mcp.services import session_register
from apps.products.services import product_ensure
from apps.scopes.models import Membership
from apps.scopes.services import space_ensure_personal, workspace_create

pytestmark = pytest.mark.django_db

numbers = itertools.count()


@contextmanager
def writes_after_each_read(table: str, write):
    """Run ``write()`` after every statement that reads ``table``: another client writing the list
    between any two statements of the request (on this connection, read-committed as a concurrent
    writer's committed row would be seen)."""
    writing = []

    def wrapper(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if not writing and sql.lstrip().upper().startswith("SELECT") and f'"{table}"' in sql:
            writing.append(True)
            try:
                write()
            finally:
                writing.clear()
        return result

    with connection.execute_wrapper(wrapper):
        yield


def _products(user, make_user):
    space = space_ensure_personal(user=user)

    def write():
        product_ensure(space=space, name=f"R{next(numbers)}")

    return "/api/v1/memory/products", "products_productstate", write


def _sessions(user, make_user):
    space = space_ensure_personal(user=user)

    def write():
        session_register(space=space, user=user, actor="test", product_name=f"R{next(numbers)}")

    return "/api/v1/sessions", "mcp_mcpsession", write


def _history(user, make_user):
    space = space_ensure_personal(user=user)

    def write():
        kernel_update(space=space, changes={"identity": {"role": f"Role {next(numbers)}"}}, actor="test")

    return "/api/v1/memory/identity/history", "identity_kernelrevision", write


def _byok(user, make_user):
    space = space_ensure_personal(user=user)

    def write():
        byok_credential_create(space=space, service="openai", label=f"k{next(numbers)}", key=fresh_key())

    return "/api/v1/byok", "byok_byokcredential", write


def _workspaces(user, make_user):
    def write():
        workspace_create(owner=user, name=f"W{next(numbers)}", kind="team")

    return "/api/v1/workspaces", "scopes_membership", write


def _members(user, make_user):
    workspace = workspace_create(owner=user, name="Crowd", kind="team")

    def write():
        Membership.objects.create(space=workspace, user=make_user(), role="member")

    return f"/api/v1/workspaces/{workspace.pk}/members", "scopes_membership", write


LISTS = [_products, _sessions, _history, _byok, _workspaces, _members]


@pytest.fixture(params=LISTS, ids=lambda f: f.__name__.strip("_"))
def paged_list(request, make_user, inproc_for):
    user = make_user(tier="team")
    path, table, write = request.param(user, make_user)
    for _ in range(3):
        write()
    return inproc_for(user), path, table, write


def test_a_row_written_during_the_read_never_splits_count_from_the_page(paged_list):
    client, path, table, write = paged_list
    with writes_after_each_read(table, write):
        response = client.get(path, {"limit": 100})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] >= 3 and body["next_offset"] is None
    assert len(body["results"]) == body["count"]


def test_a_walk_never_ends_before_a_row_that_was_there_all_along(paged_list):
    client, path, table, write = paged_list
    before = client.get(path, {"limit": 100}).json()["results"]
    offset, seen = len(before) - 1, []
    with writes_after_each_read(table, write):
        for _ in range(5):  # rows written at the end of a list may keep a walk going: a few pages tell
            body = client.get(path, {"limit": 1, "offset": offset}).json()
            seen += body["results"]
            if before[-1] in seen or body["next_offset"] is None:
                break
            offset = body["next_offset"]
    assert before[-1] in seen


def test_a_page_past_the_end_still_counts_every_row(paged_list):
    client, path, _, _ = paged_list
    count = client.get(path).json()["count"]
    body = client.get(path, {"limit": 5, "offset": count + 10}).json()
    assert body["results"] == [] and body["count"] == count and body["next_offset"] is None
