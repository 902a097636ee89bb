"""The admin does bounded work on large tables (delete pages, sidebar filters, counts, search).

A delete confirmation counts what a delete takes along, per model, instead of loading and
listing every row; its permission answer is still Django's. Sidebar filters count values in the
space a list is narrowed to (``?space=``) and otherwise read a bounded sample; no list counts
the whole table a second time; searches of decisions and memories are shaped for their indexes.
"""

from __future__ import annotations

import re
import uuid
from contextlib import nullcontext
from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.admin import AllValuesFieldListFilter, RelatedFieldListFilter
from django.contrib.admin.models import CHANGE, DELETION, LogEntry
from django.contrib.admin.utils import get_deleted_objects as django_get_deleted_objects
from django.contrib.auth.models import Group, Permission
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_application_model, get_refresh_token_model

from apps.accounts.models import ApiKey, User
from apps.accounts.services import api_key_create, user_create
from apps.costs.services import cost_event_record
from apps.decisions.models import Decision
from apps.decisions.services import decision_create
from apps.mcp.services import session_kernel_loaded, session_register
from apps.memory.models import Memory
from apps.memory.services import memory_create
from apps.scopes.models import Space
from apps.scopes.services import space_ensure_personal, workspace_create
from conftest import ADMIN_PASSWORD as PASSWORD
from tests.test_admin import _api_status, _oauth_flow, build_world

pytestmark = pytest.mark.django_db


def _add_cost_events(space, n: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO costs_costevent (id, space_id, provider, model, operation, input_tokens, output_tokens,"
            " cost_usd, unpriced, source, occurred_at, created_at)"
            " SELECT gen_random_uuid(), %s, 'p', 'm', 'op', 10, 5, 0.01, false, 'ingest',"
            " now() - (g || ' seconds')::interval, now() FROM generate_series(1, %s) g",
            [space.pk, n],
        )


# -- delete confirmations -------------------------------------------------------------------------
def test_delete_pages_count_cascaded_rows_and_do_not_grow_with_them(staff):
    owner = user_create(email="big@example.com", password=PASSWORD, tier="team")
    space = workspace_create(owner=owner, name="Big team", kind="team")  # personal spaces go with their user
    pages = {
        "user": reverse("admin:accounts_user_delete", args=[owner.pk]),
        "space": reverse("admin:scopes_space_delete", args=[space.pk]),
    }

    def render() -> dict[str, str]:
        html = {name: staff.get(url).content.decode() for name, url in pages.items()}
        for name, selected in (("users", owner.pk), ("spaces", space.pk)):
            changelist = reverse(f"admin:{'accounts_user' if name == 'users' else 'scopes_space'}_changelist")
            response = staff.post(changelist, {"action": "delete_selected", "_selected_action": [str(selected)]})
            assert response.status_code == 200
            html[f"{name} action"] = response.content.decode()
        return html

    _add_cost_events(space, 20)
    small = render()
    _add_cost_events(space, 400)
    with CaptureQueriesContext(connection) as queries:
        large = render()
    for name, html in large.items():
        assert "Cost events: 420" in html, name
        assert html.count("<li") == small[name].count("<li"), name  # one line per model, not per row
        assert abs(len(html) - len(small[name])) < 40, name  # the count's digits, and the CSRF token
    # Rows that go in one DELETE are counted, never loaded.
    assert not [q["sql"] for q in queries.captured_queries if q["sql"].startswith('SELECT "costs_costevent"."id"')]


def test_deleting_through_the_counted_page_still_deletes_everything(staff):
    owner = user_create(email="gone@example.com", password=PASSWORD)
    space = space_ensure_personal(user=owner)
    _add_cost_events(space, 30)
    response = staff.post(reverse("admin:accounts_user_delete", args=[owner.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not User.objects.filter(pk=owner.pk).exists()
    assert not Space.objects.filter(pk=space.pk).exists()


def _request(user, path="/admin/"):
    request = RequestFactory().get(path)
    request.user = user
    request.resolver_match = None
    return request


def _staff_with(codenames: list[str]) -> User:
    user = user_create(email=f"staff-{uuid.uuid4().hex[:8]}@example.com", password=PASSWORD, is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return User.objects.get(pk=user.pk)  # permission caches start empty


def test_counts_and_refusals_match_djangos_own_answer(superuser):
    """Per-model counts equal the rows Django's own collection finds, and the models it would
    refuse (perms_needed) and protect are the same, for every model and several staff."""
    world = build_world("one")
    build_world("two")
    every_delete = list(Permission.objects.filter(codename__startswith="delete_").values_list("codename", flat=True))
    staffs = {
        "superuser": superuser,
        "only users": _staff_with(["delete_user", "view_user"]),
        "all but cost events": _staff_with([c for c in every_delete if c != "delete_costevent"]),
        "all but memberships": _staff_with([c for c in every_delete if c != "delete_membership"]),
    }
    checked = 0
    for model, model_admin in admin.site._registry.items():
        obj = world.objects[model._meta.label]
        roots = [obj]
        selected = model._default_manager.filter(pk=obj.pk)
        for name, user in staffs.items():
            request = _request(user)
            for objs in (roots, selected):
                _, expected_counts, expected_perms, expected_protected = django_get_deleted_objects(
                    objs, request, admin.site
                )
                _, counts, perms, protected = model_admin.get_deleted_objects(objs, request)
                assert counts == expected_counts, (model._meta.label, name)
                assert perms == expected_perms, (model._meta.label, name)
                assert len(protected) == len(expected_protected), (model._meta.label, name)
                checked += 1
    assert checked == len(admin.site._registry) * len(staffs) * 2
    # The refusals the limited staff meet on a user's page include a model deleted in one query.
    request = _request(staffs["all but cost events"])
    _, _, perms, _ = admin.site._registry[User].get_deleted_objects([world.owner], request)
    assert "cost event" in perms


def test_a_delete_cascading_to_a_model_the_staff_may_not_delete_is_refused():
    owner = user_create(email="owner@example.com", password=PASSWORD, tier="team")
    space = workspace_create(owner=owner, name="Team", kind="team")
    cost_event_record(space=space, provider="acme", model="m", input_tokens=1, output_tokens=1)
    every_delete = Permission.objects.filter(codename__startswith="delete_").exclude(codename="delete_costevent")
    limited = _staff_with([*every_delete.values_list("codename", flat=True), "view_user", "view_space"])
    client = Client()
    client.force_login(limited)
    for url in (
        reverse("admin:accounts_user_delete", args=[owner.pk]),
        reverse("admin:scopes_space_delete", args=[space.pk]),
    ):
        page = client.get(url)
        assert page.status_code == 200
        html = page.content.decode()
        assert "have permission to delete the following types of objects" in html
        assert "<li>cost event</li>" in html
        assert client.post(url, {"post": "yes"}).status_code == 403
    assert User.objects.filter(pk=owner.pk).exists() and Space.objects.filter(pk=space.pk).exists()


# -- sidebar filters and counts ---------------------------------------------------------------------
def _two_spaces():
    a = user_create(email="a@example.com", password=PASSWORD, tier="pro")
    b = user_create(email="b@example.com", password=PASSWORD, tier="pro")
    sa, sb = space_ensure_personal(user=a), space_ensure_personal(user=b)
    for space, mark in ((sa, "alpha"), (sb, "beta")):
        owner = space.owner
        decision_create(space=space, decision=f"Use {mark}", product_name=f"Product-{mark}", tags=[f"tag-{mark}"])
        Decision.objects.filter(space=space).update(source=f"source-{mark}")
        memory = memory_create(
            space=space,
            data={
                "id": str(uuid.uuid4()),
                "content": f"Note {mark}",
                "memory_type": f"type-{mark}",
                "created_at": "2026-01-01T00:00:00Z",
            },
        )
        Memory.objects.filter(pk=memory.pk).update(
            embedding=[0.1, 0.2], embedding_dimensions=2, embedding_model=f"model-{mark}"
        )
        cost_event_record(space=space, provider=f"provider-{mark}", model="m", input_tokens=1, output_tokens=1)
        session = session_register(
            space=space, user=owner, actor="test", product_name=f"Product-{mark}", agent_name=f"agent-{mark}"
        )
        session_kernel_loaded(session=session, client_type=f"client-{mark}")
    return sa, sb


SCOPED_LISTS = [
    "decisions.Decision",
    "memory.Memory",
    "costs.CostEvent",
    "mcp.McpSession",
    "ingest.Signal",
    "products.ProductState",
    "memory.ConsolidationJob",
    "byok.ByokCredential",
    "scopes.Membership",
]


def _changelist(label: str) -> str:
    app_label, model = label.lower().split(".")
    return reverse(f"admin:{app_label}_{model}_changelist")


def _aggregates(queries) -> list[str]:
    return [q["sql"] for q in queries if re.search(r"\bCOUNT\(|\bDISTINCT\b|\bGROUP BY\b", q["sql"])]


def test_filters_of_a_list_narrowed_to_a_space_show_and_count_only_that_space(staff):
    sa, sb = _two_spaces()
    for label in SCOPED_LISTS:
        staff.get(_changelist(label), {"space": str(sb.pk)})  # warm-up
        with CaptureQueriesContext(connection) as queries:
            response = staff.get(_changelist(label), {"space": str(sb.pk)})
        assert response.status_code == 200, label
        html = response.content.decode()
        assert "alpha" not in html, label  # nothing of the other space, in the rows or the sidebar
        for sql in _aggregates(queries.captured_queries):
            assert sb.pk.hex in sql, (label, sql)  # no count, DISTINCT or GROUP BY beyond the space
    for label, shown in {
        "decisions.Decision": ["tag-beta", "Product-beta", "source-beta"],
        "memory.Memory": ["type-beta", "model-beta"],
        "costs.CostEvent": ["provider-beta"],
        "mcp.McpSession": ["agent-beta", "client-beta"],
    }.items():
        html = staff.get(_changelist(label), {"space": str(sb.pk)}).content.decode()
        for value in shown:
            assert f"{value} (1)" in html, (label, value)


def test_filters_of_a_whole_list_read_a_bounded_sample(staff):
    _two_spaces()
    for label in ("decisions.Decision", "memory.Memory", "costs.CostEvent", "mcp.McpSession"):
        staff.get(_changelist(label))
        with CaptureQueriesContext(connection) as queries:
            response = staff.get(_changelist(label))
        html = response.content.decode()
        assert "alpha" in html and "beta" in html, label
        aggregates = _aggregates(queries.captured_queries)
        # The page's own count, and the date drill-down's years; no filter aggregates a table.
        counts = [sql for sql in aggregates if "COUNT(" in sql and "DATE_TRUNC" not in sql]
        extra = [sql for sql in aggregates if sql not in counts and "DATE_TRUNC" not in sql]
        if label == "costs.CostEvent":
            counts = [sql for sql in counts if "SUM(" not in sql]  # the totals of what is listed
        assert len(counts) == 1 and not extra, (label, aggregates)


def test_no_list_counts_its_whole_table_a_second_time_nor_lists_every_value_of_a_column(staff):
    build_world("one")
    ours = {model: model_admin for model, model_admin in admin.site._registry.items() if model is not Group}
    assert all(model_admin.show_full_result_count is False for model_admin in ours.values())
    request = _request(User.objects.get(email="root@example.com"))
    for model, model_admin in ours.items():
        changelist = model_admin.get_changelist_instance(request)
        unbounded = [
            spec
            for spec in changelist.filter_specs
            if isinstance(spec, (AllValuesFieldListFilter, RelatedFieldListFilter))
        ]
        assert not unbounded, (model._meta.label, unbounded)


def test_token_lists_have_no_filter_of_every_application_and_find_tokens_by_app(staff):
    world = build_world("one")
    Application = get_application_model()
    Application.objects.bulk_create(
        [
            Application(
                name=f"bulk app {i}",
                client_id=f"bulk{i:05d}",
                client_type="public",
                authorization_grant_type="authorization-code",
                redirect_uris="http://127.0.0.1/cb",
                hash_client_secret=False,  # no PBKDF2 per row: the test is about the list, not the secret
            )
            for i in range(30)
        ]
    )
    application = Application.objects.get(client_id=world.client_id)
    for model in (get_access_token_model(), get_refresh_token_model()):
        url = reverse(f"admin:oauth2_provider_{model._meta.model_name}_changelist")
        html = staff.get(url).content.decode()
        assert "application__id__exact" not in html and "bulk app" not in html
        found = staff.get(url, {"q": application.client_id})
        assert found.context["cl"].result_count == model.objects.filter(application=application).count() > 0
        assert staff.get(url, {"q": "bulk app 7"}).context["cl"].result_count == 0


# -- search ----------------------------------------------------------------------------------------
def _plan(model, term: str, superuser) -> tuple[str, str]:
    model_admin = admin.site._registry[model]
    request = _request(superuser, f"/?q={term}")
    queryset, _ = model_admin.get_search_results(request, model_admin.get_queryset(request), term)
    # Unordered: on these tiny tables, with sequential scans priced out, the planner would rather
    # filter the index that gives the list's order (decision_decided, memory_created) than sort.
    sql, params = queryset.order_by().query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("SET LOCAL enable_seqscan = on")
    return sql, plan


@pytest.mark.parametrize(
    "model, indexes",
    [
        (Decision, ("decision_space_text_trgm", "decision_space_document")),
        (Memory, ("memory_space_content_trgm", "memory_space_search")),
    ],
)
def test_searches_are_served_by_the_text_and_trigram_indexes(superuser, model, indexes):
    build_world("one")
    sql, plan = _plan(model, "postgres", superuser)
    assert f"Seq Scan on {model._meta.db_table}" not in plan, plan
    for index in indexes:
        assert index in plan, plan


def test_admin_search_finds_decisions_by_text_reasoning_tag_and_product(staff):
    sa, sb = _two_spaces()
    decision_create(
        space=sa, decision="Adopt Kubernetes", product_name="Orbit", reasoning="Operators prefer it", tags=["infra"]
    )
    url = _changelist("decisions.Decision")

    def found(q: str, **params) -> int:
        return staff.get(url, {"q": q, **params}).context["cl"].result_count

    assert found("kubern") == 1  # a part of a word of the decision
    assert found("operators") == 1  # a word of the reasoning
    assert found("infra") == 1  # a tag
    assert found("orbit") == 1  # the product's name
    assert found("use") == 2 and found("use", space=str(sb.pk)) == 1
    assert found("kubernetes nothing-like-this") == 0  # every word must match


def test_admin_search_finds_memories_by_content_id_and_owner(staff):
    sa, sb = _two_spaces()
    memory = Memory.objects.get(space=sb)
    url = _changelist("memory.Memory")

    def found(q: str, **params) -> int:
        return staff.get(url, {"q": q, **params}).context["cl"].result_count

    assert found("note") == 2 and found("note", space=str(sa.pk)) == 1
    assert found("bet") == 1  # a part of a word of the content
    assert found(str(memory.memory_id)) == 1
    assert found("b@example.com") == 1  # the space owner's email
    assert found("nothing-like-this") == 0
    # External and agent ids have no index: matched exactly, in a list of one space only.
    Memory.objects.filter(pk=memory.pk).update(external_id="ext-42", agent_id="agent-7")
    assert found("ext-42", space=str(sb.pk)) == 1 and found("agent-7", space=str(sb.pk)) == 1
    assert found("ext-42") == 0 and found("ext-42", space=str(sa.pk)) == 0


# -- bulk revocation ---------------------------------------------------------------------------------
# Revoking a selection runs a few statements whatever its size: one token at a time, 25,000 tokens
# of one app outran the request's time limit and left most of them valid.
# Session, user, the selection's count, the revocation's few statements (8-10: the rows it ends are
# read, locked, to be logged), then its history: two content types (cached in a running server) and
# two INSERTs, whatever the number of tokens.
REVOKE_QUERIES = 16
BULK = 2000


def _issue_tokens(user, client_id: str, n: int) -> None:
    """``n`` more live access tokens of the app, each with its refresh token, in two INSERTs."""
    AccessToken, RefreshToken = get_access_token_model(), get_refresh_token_model()
    application = get_application_model().objects.get(client_id=client_id)
    expires = timezone.now() + timedelta(hours=1)
    access = AccessToken.objects.bulk_create(
        AccessToken(user=user, application=application, token_checksum=uuid.uuid4().hex * 2, expires=expires)
        for _ in range(n)
    )
    RefreshToken.objects.bulk_create(
        RefreshToken(user=user, application=application, token_checksum=uuid.uuid4().hex * 2, access_token=token)
        for token in access
    )


def _revoke_across(client: Client, model, search: str, django_assert_max_num_queries) -> list[str]:
    """Run the revoke action of ``model``'s list over every row the search finds ("Select all")."""
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist") + f"?q={search}"
    one = model.objects.filter(application__client_id=search).values_list("pk", flat=True).first()
    data = {"action": "revoke_selected", "select_across": "1", "index": "0", "_selected_action": [str(one)]}
    with django_assert_max_num_queries(REVOKE_QUERIES):
        response = client.post(url, data)
    assert response.status_code == 302
    return [message.message for message in get_messages(response.wsgi_request)]


def _refresh_status(issued: dict) -> int:
    token = {"grant_type": "refresh_token", "refresh_token": issued["refresh_token"], "client_id": issued["client_id"]}
    return Client().post("/api/oauth/token", token).status_code


@pytest.mark.parametrize("model_name", ["AccessToken", "RefreshToken"])
def test_revoking_every_token_of_an_app_takes_a_few_queries_and_ends_them_all(
    staff, model_name, django_assert_max_num_queries
):
    AccessToken, RefreshToken = get_access_token_model(), get_refresh_token_model()
    owner = user_create(email="owner@example.com", password=PASSWORD)
    issued = _oauth_flow(Client(), owner)
    other = _oauth_flow(Client(), owner)  # another app of the same user: not selected
    _issue_tokens(owner, issued["client_id"], BULK - 1)
    assert _api_status(issued["access_token"]) == 200

    app_tokens = {"application__client_id": issued["client_id"]}
    # BULK tokens issued with a refresh token, and the app's registration token (RFC 7592).
    access_tokens = AccessToken.objects.filter(**app_tokens).count()
    issued_with_refresh = list(RefreshToken.objects.filter(**app_tokens).values_list("access_token_id", flat=True))
    assert access_tokens == BULK + 1 and len(issued_with_refresh) == BULK

    model = AccessToken if model_name == "AccessToken" else RefreshToken
    messages = _revoke_across(staff, model, issued["client_id"], django_assert_max_num_queries)

    if model is AccessToken:
        assert messages == [
            f"Revoked {access_tokens:,} access token(s) and {BULK:,} refresh token(s) issued with them."
        ]
        assert not AccessToken.objects.filter(**app_tokens).exists()
    else:
        assert messages[0].startswith(
            f"Revoked {BULK:,} refresh token(s) and {BULK:,} access token(s) issued with them"
        )
        assert AccessToken.objects.filter(**app_tokens).count() == 1  # the registration token: no refresh token
    # Each token ended is in the admin's history (two INSERTs, in the queries counted above).
    logged = LogEntry.objects.filter(content_type__app_label="oauth2_provider")
    assert logged.filter(content_type__model="refreshtoken", action_flag=CHANGE).count() == BULK
    ended = access_tokens if model is AccessToken else BULK
    assert logged.filter(content_type__model="accesstoken", action_flag=DELETION).count() == ended
    assert not AccessToken.objects.filter(pk__in=issued_with_refresh).exists()
    assert RefreshToken.objects.filter(**app_tokens, revoked__isnull=False, access_token=None).count() == BULK
    assert _api_status(issued["access_token"]) == 401
    assert _refresh_status(issued) == 400
    assert _api_status(other["access_token"]) == 200


@pytest.mark.parametrize("model_name", ["AccessToken", "RefreshToken"])
def test_the_revoking_writes_name_the_selected_ids_not_the_search(staff, model_name):
    # Each write is an index lookup by id: the admin's search (LIKE over apps and users) runs
    # once, never nested in an UPDATE or DELETE, whose plan on freshly filled tables it could ruin.
    AccessToken, RefreshToken = get_access_token_model(), get_refresh_token_model()
    owner = user_create(email="owner@example.com", password=PASSWORD)
    issued = _oauth_flow(Client(), owner)
    _issue_tokens(owner, issued["client_id"], 20)
    model = AccessToken if model_name == "AccessToken" else RefreshToken
    with CaptureQueriesContext(connection) as queries:
        _revoke_across(staff, model, issued["client_id"], lambda _: nullcontext())
    writes = [q["sql"] for q in queries if q["sql"].startswith(("UPDATE", "DELETE"))]
    assert len(writes) >= 3
    assert not [sql for sql in writes if "LIKE" in sql.upper()], writes


def test_revoking_many_api_keys_takes_a_few_queries_and_records_each_in_its_history(
    staff, django_assert_max_num_queries
):
    owner = user_create(email="keys@example.com", password=PASSWORD)
    _, raw = api_key_create(user=owner, name="laptop", scope="read")
    ApiKey.objects.bulk_create(
        ApiKey(user=owner, name=f"key {i}", scope="read", prefix=f"sx_live_{i:04d}", digest=uuid.uuid4().hex * 2)
        for i in range(499)
    )
    already = ApiKey.objects.filter(user=owner).order_by("pk").last()
    ApiKey.objects.filter(pk=already.pk).update(revoked_at=timezone.now())
    url = reverse("admin:accounts_apikey_changelist") + f"?user={owner.pk}"
    data = {"action": "revoke", "select_across": "1", "index": "0", "_selected_action": [str(already.pk)]}
    with django_assert_max_num_queries(REVOKE_QUERIES):
        response = staff.post(url, data)
    assert [m.message for m in get_messages(response.wsgi_request)] == ["Revoked 499 key(s)."]
    assert not ApiKey.objects.filter(user=owner, revoked_at__isnull=True).exists()
    assert _api_status(raw) == 401
    history = LogEntry.objects.filter(change_message="Revoked the key.")
    assert history.count() == 499 and not history.filter(object_id=str(already.pk)).exists()


# -- actions -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("selected", ["abc", "\x00", "1.5"])
def test_every_action_refuses_a_selection_that_is_no_primary_key(staff, selected):
    """Django filters ``pk__in`` with the posted values as they are: one that is no primary key (a
    tampered form) raised while the query compiled, a 500 on every action of every list."""
    build_world("one")
    posted = 0
    for model in admin.site._registry:
        changelist = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        form = staff.get(changelist).context["action_form"]
        for action in [name for name, _ in form.fields["action"].choices if name] if form else []:
            data = {"action": action, "_selected_action": [selected], "index": "0"}
            response = staff.post(changelist, data)
            assert response.status_code == 302, (changelist, action, response.status_code)
            shown = [str(message) for message in get_messages(response.wsgi_request)]
            assert any("No items have been changed" in message for message in shown), (changelist, action)
            posted += 1
    assert posted >= 8  # delete, revoke and run-again actions of the lists
