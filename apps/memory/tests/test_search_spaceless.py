"""Memory search finds a word inside text written without spaces (Chinese, Japanese, Thai) in
every type, with the query's operators holding and the word highlighted in the snippet, over
real HTTP.

PostgreSQL's parser makes a whole run of such characters one word, so '数据库' inside
'我们决定使用数据库迁移工具来管理架构' matched neither full text nor trigram similarity (0.25).
"""

from __future__ import annotations

import pytest
from django.db import connection

from apps.decisions import ranking
from apps.identity.services import kernel_update
from apps.memory.models import SEARCH_CONFIG
from apps.memory.spaceless import INNER_RUNS_MAX, INNER_WORDS_MAX, query_words_sql, spaceless_runs
from apps.memory.tests.test_search_api import add_decision, add_memory
from apps.products.services import product_state_write
from apps.scopes.services import space_ensure_personal, workspace_create

URL = "/api/v1/memory/search"
RAMEN = "東京のラーメン屋について調査した"
CHINESE = "我们决定使用数据库迁移工具来管理架构"
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def space(user):
    return space_ensure_personal(user=user)


def search(client, q: str, **params) -> dict:
    response = client.get(URL, params={"q": q, **params})
    assert response.status_code == 200, response.text
    return response.json()


def found(client, q: str, **params) -> list[tuple[str, str]]:
    return sorted((item["type"], item["title"]) for item in search(client, q, **params)["results"])


def test_every_type_is_found_by_a_word_inside_its_text(user, space, write_api):
    kernel_update(space=space, changes={"identity": {"role": "ラーメンが好きなエンジニア"}}, actor="test")
    product_state_write(space=space, name="Noodles", changes={"what_works": ["ラーメンの注文"]})
    add_decision(space, "Noodles", "Open a second shop", reasoning="ラーメンの需要が多い")  # reasoning only
    add_memory(space, RAMEN)
    add_memory(space, CHINESE)
    response = write_api.post("/api/v1/ingest/Noodles", json={"type": "note", "body": "新しいラーメンのレシピ"})
    assert response.status_code == 202, response.text

    assert found(write_api, "ラーメン") == [
        ("decision", "Open a second shop"),
        ("identity", "Identity Kernel"),
        ("memory", RAMEN),
        ("product", "Noodles"),
        ("signal", "note: 新しいラーメンのレシピ"),
    ]
    assert found(write_api, "数据库") == [("memory", CHINESE)]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("東京", [RAMEN]),  # two characters: no trigram of their own
        ("屋", [RAMEN]),  # one character
        ("ラーメン -東京", []),
        ("ラーメン -数据库", [RAMEN]),
        ("数据库 or ラーメン", sorted([CHINESE, RAMEN])),
        ('"数据库迁移"', [CHINESE]),
        ('"迁移数据库"', []),
        ("-迁移", [RAMEN, "slow rise makes better bread"]),
        ("bread", ["slow rise makes better bread"]),  # other scripts as before
    ],
)
def test_the_query_operators_hold_for_words_inside_runs(space, write_api, q, expected):
    for text in (RAMEN, CHINESE, "slow rise makes better bread"):
        add_memory(space, text)
    assert [title for _, title in found(write_api, q, types="memory")] == sorted(expected)


def test_only_the_first_runs_of_a_query_match_inside_runs(space, write_api):
    add_memory(space, RAMEN)
    add_memory(space, CHINESE)
    seven_runs = "甲 or 乙 or 丙 or 丁 or 戊 or 庚 or 辛"  # in no row: the query's 9th run is a whole word
    assert found(write_api, f"ラーメン or {seven_runs} or 数据库", types="memory") == [("memory", RAMEN)]
    assert found(write_api, f"数据库 or {seven_runs} or ラーメン", types="memory") == [("memory", CHINESE)]


def test_the_words_matched_inside_runs_are_bounded(db):
    # The probe's query: 250 characters joined by hyphens, one word and its 250 parts. Each word
    # added costs every candidate row a scan of its document (2–3 s over 3,000 decisions).
    q = "-".join(chr(0x4E00 + i) for i in range(250))
    runs = spaceless_runs(q)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {query_words_sql('%s', '%s', SEARCH_CONFIG)}", [q, list(runs)])
        (words,) = cursor.fetchone()
    assert runs == tuple(q.split("-")[:INNER_RUNS_MAX])
    assert words == [q, *runs]  # in q's order: the hyphenated word, then its parts
    assert len(words) <= INNER_WORDS_MAX


def test_a_word_inside_a_run_scores_as_a_full_text_match(space, write_api):
    add_memory(space, RAMEN)
    (hit,) = search(write_api, "ラーメン")["results"]
    assert hit["score"] > 0.5  # not a typo-only match


def test_the_snippet_highlights_the_word_inside_the_run(space, write_api):
    add_memory(space, RAMEN)
    add_decision(space, "Atlas", CHINESE, reasoning="迁移要快")
    snippets = {item["type"]: item["snippet"] for item in search(write_api, "ラーメン or 迁移")["results"]}
    assert snippets == {
        "memory": "東京の**ラーメン**屋について調査した",
        "decision": "我们决定使用数据库**迁移**工具来管理架构 · **迁移**要快",
    }


@pytest.mark.parametrize("holder_words_max", [ranking.HOLDER_WORDS_MAX, 0])  # through words, through texts
def test_decision_hits_agree_with_decision_search(space, write_api, monkeypatch, holder_words_max):
    monkeypatch.setattr(ranking, "HOLDER_WORDS_MAX", holder_words_max)
    add_decision(space, "Atlas", CHINESE)
    add_decision(space, "Atlas", "Pick a migration tool", reasoning="我们需要数据库迁移")
    add_decision(space, "Atlas", RAMEN)
    for q in ("数据库", "迁移 -工具", "ラーメン or 数据库"):
        memory_hits = sorted(title for _, title in found(write_api, q, types="decision"))
        decisions = write_api.get("/api/v1/memory/decisions/search", params={"q": q}).json()["results"]
        assert memory_hits == sorted(hit["decision"] for hit in decisions), q


def test_another_users_rows_stay_invisible(space, write_api, make_user, client_for):
    add_memory(space, RAMEN)
    add_decision(space, "Atlas", CHINESE)
    stranger = make_user()
    assert found(client_for(stranger), "ラーメン or 数据库") == []
    add_memory(space_ensure_personal(user=stranger), "数据库的索引")
    assert found(client_for(stranger), "数据库") == [("memory", "数据库的索引")]
    assert found(write_api, "数据库") == [("decision", CHINESE)]


def test_a_workspace_members_effective_kernel_is_found_by_a_word_inside_it(make_user, client_for):
    ada = make_user(tier="team")
    header = {"X-Synchronex-Scope": str(workspace_create(owner=ada, name="Studio", kind="team").id)}
    client = client_for(ada)
    assert client.put("/api/v1/memory/identity", json={"identity": {"role": "ラーメン職人"}}).status_code == 200
    assert client.put("/api/v1/memory/identity", json={"identity": {"company": "東京スタジオ"}}, headers=header).ok

    def snippets(q: str) -> list[str]:
        response = client.get(URL, params={"q": q, "types": "identity"}, headers=header)
        assert response.status_code == 200, response.text
        return [hit["snippet"] for hit in response.json()["results"]]

    (personal,) = snippets("職人")  # the caller's own layer, under the workspace's
    assert "ラーメン**職人**" in personal
    (workspace,) = snippets("スタジオ")
    assert "東京**スタジオ**" in workspace
    assert snippets("スタジオ -ラーメン") == []  # the merged kernel holds both
