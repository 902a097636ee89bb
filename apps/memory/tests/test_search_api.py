import uuid

import pytest

from apps.accounts.models import ApiKey
from apps.decisions.models import Decision
from apps.decisions.services import decision_create
from apps.identity.services import kernel_update
from apps.memory.services import memory_create
from apps.products.services import product_ensure, product_state_write
from apps.scopes.services import space_ensure_personal

URL = "/api/v1/memory/search"
# The key lookup (with the quota counters), the page (with the total), then one per type on the
# page; the active space is remembered since the first request (synchronex/api/stamps.py).
QUERIES_PER_SEARCH = 6
pytestmark = pytest.mark.django_db(transaction=True)


def add_memory(space, content, **extra):
    data = {"id": str(uuid.uuid4()), "content": content, "created_at": "2026-02-01T09:00:00Z", **extra}
    return memory_create(space=space, data=data)


def add_decision(space, product, decision, reasoning="", tags=()):
    return Decision.objects.create(
        space=space,
        product=product_ensure(space=space, name=product),
        decision=decision,
        reasoning=reasoning,
        tags=list(tags),
    )


def seed(user):
    """One hit of every type for "postgresql", plus rows that must not match."""
    space = space_ensure_personal(user=user)
    kernel_update(
        space=space,
        changes={
            "identity": {"name": "Ada Lovelace", "role": "Founder"},
            "constraints": {"always": ["Use PostgreSQL for every service"], "never": ["Deploy on Fridays"]},
        },
        actor="test",
    )
    product_state_write(
        space=space,
        name="Atlas",
        changes={"what_works": ["Login", "Billing"], "what_is_blocked": ["PostgreSQL upgrade waits for a window"]},
    )
    product_state_write(space=space, name="Beta", changes={"what_works": ["Mobile app"]})
    decision = add_decision(
        space, "Atlas", "Adopt PostgreSQL full-text search", reasoning="One engine for everything", tags=["search"]
    )
    add_decision(space, "Beta", "Use PostgreSQL for Beta analytics too")
    memory = add_memory(space, "The team agreed PostgreSQL replaces MySQL next quarter.", memory_type="decision")
    add_memory(space, "Sourdough bread needs a long, slow rise.")
    return {"space": space, "decision": decision, "memory": memory}


def search(client, **params):
    return client.get(URL, params=params)


def test_search_finds_every_type_ranked_together(user, client_for):
    data = seed(user)
    response = search(client_for(user, "read"), q="postgresql")
    assert response.status_code == 200
    body = response.json()
    assert body["scope"] == "personal"
    types = {item["type"] for item in body["results"]}
    assert types == {"identity", "product", "decision", "memory"}
    assert body["count"] == len(body["results"]) == 5  # kernel, Atlas, two decisions, one memory
    scores = [item["score"] for item in body["results"]]
    assert scores == sorted(scores, reverse=True)
    assert all(0 < s <= 1 for s in scores)
    memory = next(item for item in body["results"] if item["type"] == "memory")
    assert memory == {
        "type": "memory",
        "id": str(data["memory"].memory_id),
        "product": None,
        "title": "The team agreed PostgreSQL replaces MySQL next quarter.",
        "snippet": memory["snippet"],
        "score": memory["score"],
        "updated_at": "2026-02-01T09:00:00Z",
    }
    decision = next(item for item in body["results"] if item["id"] == str(data["decision"].id))
    assert (decision["type"], decision["product"], decision["title"]) == (
        "decision",
        "Atlas",
        "Adopt PostgreSQL full-text search",
    )
    kernel = next(item for item in body["results"] if item["type"] == "identity")
    assert (kernel["title"], kernel["product"]) == ("Identity Kernel", None)
    product = next(item for item in body["results"] if item["type"] == "product")
    assert (product["title"], product["product"]) == ("Atlas", "Atlas")
    assert all(item["updated_at"].endswith("Z") for item in body["results"])


def test_search_ranks_matches_in_titles_above_matches_in_details(user, client_for):
    space = space_ensure_personal(user=user)
    add_decision(space, "Atlas", "Adopt Kubernetes for deployment")  # decision text: weight A
    add_decision(space, "Atlas", "Keep the monolith", reasoning="Kubernetes is too much for now")  # weight C
    product_state_write(space=space, name="Atlas", changes={"next_session_starts_here": "kubernetes spike"})
    body = search(client_for(user), q="kubernetes").json()
    titles = [item["title"] for item in body["results"]]
    assert titles[0] == "Adopt Kubernetes for deployment"
    assert set(titles[1:]) == {"Keep the monolith", "Atlas"}


def test_search_tolerates_typos_but_ranks_exact_matches_first(user, client_for):
    space = space_ensure_personal(user=user)
    add_memory(space, "Postgres handles our queue as well")
    add_memory(space, "Nothing about databases here")
    body = search(client_for(user), q="postgress").json()
    assert [item["title"] for item in body["results"]] == ["Postgres handles our queue as well"]
    assert body["results"][0]["score"] <= 0.5  # a typo-only match
    add_memory(space, "postgress is a common misspelling")
    body = search(client_for(user), q="postgress").json()
    assert body["results"][0]["title"] == "postgress is a common misspelling"
    assert body["results"][0]["score"] > 0.5


def test_snippets_highlight_matches_with_double_asterisks(user, client_for):
    seed(user)
    body = search(client_for(user), q="postgresql").json()
    for item in body["results"]:
        assert "**PostgreSQL**" in item["snippet"], item
    memory = next(item for item in body["results"] if item["type"] == "memory")
    assert memory["snippet"] == "The team agreed **PostgreSQL** replaces MySQL next quarter."


def test_snippets_join_only_the_fields_that_hold_text(user, client_for):
    space = space_ensure_personal(user=user)
    product_state_write(space=space, name="Orion", changes={"status": "active"})  # no lists, handoff or summary
    add_decision(space, "Orion", "Use Nebula queue")  # no reasoning
    client = client_for(user)
    assert [item["snippet"] for item in search(client, q="orion").json()["results"]] == ["**Orion** · active"]
    assert [item["snippet"] for item in search(client, q="nebula").json()["results"]] == ["Use **Nebula** queue"]


def test_phrase_and_exclusion_queries_work(user, client_for):
    space = space_ensure_personal(user=user)
    add_memory(space, "slow rise makes better bread")
    add_memory(space, "rise and shine, slow morning")
    body = search(client_for(user), q='"slow rise"').json()
    assert [item["title"] for item in body["results"]] == ["slow rise makes better bread"]
    body = search(client_for(user), q="slow -bread").json()
    assert [item["title"] for item in body["results"]] == ["rise and shine, slow morning"]


@pytest.mark.parametrize("kind", ["identity", "product", "decision", "memory"])
def test_types_filter_keeps_only_that_type(user, client_for, kind):
    seed(user)
    body = search(client_for(user), q="postgresql", types=kind).json()
    assert body["results"] and {item["type"] for item in body["results"]} == {kind}
    assert body["count"] == len(body["results"])


def test_types_filter_takes_a_comma_list(user, client_for):
    seed(user)
    body = search(client_for(user), q="postgresql", types=" memory , DECISION,memory").json()
    assert {item["type"] for item in body["results"]} == {"memory", "decision"}
    assert body["count"] == 3


def test_signal_type_is_accepted_and_has_no_hits_yet(user, client_for):
    seed(user)
    response = search(client_for(user), q="postgresql", types="signal")
    assert response.status_code == 200
    assert response.json()["results"] == [] and response.json()["count"] == 0


def test_product_filter_keeps_that_products_hits(user, client_for):
    seed(user)
    body = search(client_for(user), q="postgresql", product="  atlas ").json()
    assert {(item["type"], item["product"]) for item in body["results"]} == {
        ("product", "Atlas"),
        ("decision", "Atlas"),
    }
    body = search(client_for(user), q="postgresql", product="Beta").json()
    assert [(item["type"], item["product"]) for item in body["results"]] == [("decision", "Beta")]
    assert search(client_for(user), q="postgresql", product="Nope").json()["count"] == 0


def test_paging_walks_all_hits_once(user, client_for):
    space = space_ensure_personal(user=user)
    for i in range(7):
        add_memory(space, f"pagination memory number {i}")
    client = client_for(user)
    first = search(client, q="pagination", limit=3).json()
    assert (first["count"], first["limit"], first["offset"], first["next_offset"]) == (7, 3, 0, 3)
    ids = [item["id"] for item in first["results"]]
    offset = first["next_offset"]
    while offset is not None:
        page = search(client, q="pagination", limit=3, offset=offset).json()
        ids += [item["id"] for item in page["results"]]
        offset = page["next_offset"]
    assert len(ids) == len(set(ids)) == 7
    beyond = search(client, q="pagination", offset=50).json()
    assert (beyond["results"], beyond["count"], beyond["next_offset"]) == ([], 7, None)


def test_decision_hits_need_the_decisions_read_scope(user, client_for, monkeypatch):
    seed(user)
    client = client_for(user, "read")
    # A token without decisions:read (e.g. an OAuth grant of memory:read only).
    original = ApiKey.allows
    monkeypatch.setattr(ApiKey, "allows", lambda self, scope: scope != "decisions:read" and original(self, scope))
    body = search(client, q="postgresql").json()
    assert body["results"] and "decision" not in {item["type"] for item in body["results"]}
    assert body["count"] == 3
    only_decisions = search(client, q="postgresql", types="decision")
    assert only_decisions.status_code == 200 and only_decisions.json()["count"] == 0


def test_another_users_hits_are_invisible(user, make_user, client_for):
    seed(user)
    other = make_user()
    add_memory(space_ensure_personal(user=other), "My own PostgreSQL note")
    body = search(client_for(other), q="postgresql").json()
    assert [item["title"] for item in body["results"]] == ["My own PostgreSQL note"]
    for kind in ("identity", "product", "decision", "memory"):
        assert search(client_for(other), q="postgresql atlas", types=kind, product="Atlas").json()["count"] == 0


def test_search_needs_a_token(api):
    response = api.get(URL, params={"q": "x"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "UNAUTHORIZED"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "q"),
        ({"q": ""}, "q"),
        ({"q": "   "}, "q"),
        ({"q": "x" * 501}, "q"),
        ({"q": "x", "types": "memory,bogus"}, "types"),
        ({"q": "x", "types": ""}, "types"),
        ({"q": "x", "types": "memory,,decision"}, "types"),
        ({"q": "x", "product": "p" * 101}, "product"),
        ({"q": "x", "product": " "}, "product"),
        ({"q": "x", "limit": "0"}, "limit"),
        ({"q": "x", "limit": "101"}, "limit"),
        ({"q": "x", "limit": "ten"}, "limit"),
        ({"q": "x", "offset": "-1"}, "offset"),
    ],
)
def test_bad_queries_are_validation_errors(user, client_for, params, field):
    response = client_for(user).get(URL, params=params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert field in error["details"]["fields"]


def test_unknown_or_repeated_parameters_are_validation_errors_naming_them(user, client_for):
    client = client_for(user, "read")
    response = client.get(URL, params={"q": ["postgresql", "mysql"], "type": "memory", "sort": "new"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert error["details"]["fields"] == {
        "q": ["Give this parameter at most once."],
        "sort": ["Unknown query parameter."],
        "type": ["Unknown query parameter."],
    }
    both = client.get(URL, params={"q": "x", "types": "bogus", "limit": ["5", "6"]}).json()["error"]
    assert set(both["details"]["fields"]) == {"types", "limit"}  # every problem at once
    assert search(client, q="x", types="memory", product="Atlas", limit=5, offset=0).status_code == 200


def test_query_of_exactly_500_characters_is_accepted(user, client_for):
    response = search(client_for(user), q="a" * 500)
    assert response.status_code == 200


def test_unknown_type_error_lists_the_allowed_types(user, client_for):
    error = search(client_for(user), q="x", types="secrets").json()["error"]
    assert "identity, product, decision, memory, signal" in error["details"]["fields"]["types"][0]


def test_openapi_documents_the_search_and_its_highlighting(api):
    schema = api.get("/api/v1/openapi.json").json()
    operation = schema["paths"]["/api/v1/memory/search"]["get"]
    assert "`**`" in operation["description"]
    assert {p["name"] for p in operation["parameters"]} >= {"q", "types", "product", "limit", "offset"}
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    response_schema = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(response_schema["properties"]) == {"results", "count", "limit", "offset", "next_offset", "scope"}
    item_ref = response_schema["properties"]["results"]["items"]["$ref"]
    item = schema["components"]["schemas"][item_ref.rsplit("/", 1)[1]]
    assert set(item["properties"]) == {"type", "id", "product", "title", "snippet", "score", "updated_at"}


def test_query_count_is_bounded_whatever_the_data(user, inproc_for, django_assert_num_queries):
    data = seed(user)
    client = inproc_for(user, "read")
    assert client.get(URL, {"q": "postgresql"}).status_code == 200  # first use stamps the key
    with django_assert_num_queries(QUERIES_PER_SEARCH):
        first = client.get(URL, {"q": "postgresql"})
    assert first.json()["count"] == 5
    space = data["space"]
    for i in range(30):
        add_memory(space, f"PostgreSQL memory {i}")
        add_decision(space, f"Product {i}", f"PostgreSQL decision {i}")
        product_state_write(space=space, name=f"Product {i}", changes={"what_works": [f"PostgreSQL {i}"]})
    with django_assert_num_queries(QUERIES_PER_SEARCH):
        second = client.get(URL, {"q": "postgresql", "limit": 100})
    assert second.json()["count"] == 95
    assert {item["type"] for item in second.json()["results"]} == {"identity", "product", "decision", "memory"}


def test_a_typo_only_hit_needs_a_word_similarity_of_0_6(user, client_for):
    # The decision search's typo correction accepts 0.5 within its own transaction; this search
    # keeps pg_trgm's 0.6 (FUZZY_THRESHOLD). 'kafak' is 0.5 like 'kafka'.
    space = space_ensure_personal(user=user)
    add_memory(space, "Stream events through Kafka")
    decision_create(space=space, decision="Stream events through Kafka", product_name="Atlas")
    assert search(client_for(user), q="kafak").json()["results"] == []
    found = search(client_for(user), q="kafkka").json()["results"]  # 0.6: one letter doubled
    assert sorted(item["type"] for item in found) == ["decision", "memory"]


def test_a_decision_hit_reports_when_the_decision_last_changed(user, client_for):
    """A decision changed after it was made (here its tags, as a merge or the admin changes them)
    is reported with the time of that change, not its creation."""
    space = space_ensure_personal(user=user)
    decision = add_decision(space, "Atlas", "Adopt PostgreSQL for the ledger")
    Decision.objects.filter(pk=decision.pk).update(created_at="2026-01-01T00:00:00Z")
    Decision.objects.filter(pk=decision.pk).update(tags=["database"])
    decision.refresh_from_db()
    assert decision.updated_at > decision.created_at

    body = client_for(user, scope="read").get(URL, params={"q": "ledger"}).json()

    hit = next(item for item in body["results"] if item["id"] == str(decision.id))
    assert hit["updated_at"] == decision.updated_at.isoformat().replace("+00:00", "Z")
