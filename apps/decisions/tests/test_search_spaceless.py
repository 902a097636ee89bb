"""Decision search finds a word inside text written without spaces (Chinese, Japanese, Thai), with
the query's operators holding, through REST, the kernel export and MCP over real HTTP.

PostgreSQL's parser makes a whole run of such characters one word, so these searches found
nothing before: '数据库' inside '我们决定使用数据库迁移工具来管理架构' is neither a word of the
document nor similar enough to it for the trigram fallback (0.25).
"""

from __future__ import annotations

import pytest

from apps.decisions import ranking
from apps.decisions.models import Decision
from apps.mcp.tests.conftest import Mcp
from apps.memory.tests.test_search_work import function_calls
from apps.products.services import product_ensure
from apps.scopes.services import space_ensure_personal

from .helpers import record, search, texts

pytestmark = pytest.mark.django_db(transaction=True)
CHINESE = "我们决定使用数据库迁移工具来管理架构"
JAPANESE = "東京のラーメン屋について調査した"
THAI = "เราตัดสินใจใช้ฐานข้อมูลใหม่"
ENGLISH = "Use PostgreSQL for the job queue"


@pytest.fixture(params=["through words", "through texts"])
def lookup(request, monkeypatch):
    """Both ways to the decisions that can hold a run: through the space's words that hold it,
    and by reading the decisions' texts (past ``HOLDER_WORDS_MAX`` such words)."""
    if request.param == "through texts":
        monkeypatch.setattr(ranking, "HOLDER_WORDS_MAX", 0)
    return request.param


@pytest.fixture
def corpus(write_api):
    for text in (CHINESE, JAPANESE, THAI, ENGLISH):
        record(write_api, text, product="CJK")
    return write_api


def found(client, q: str, **params) -> list[str]:
    return sorted(texts(search(client, q=q, **params)))


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("数据库", [CHINESE]),
        ("迁移工具", [CHINESE]),
        ("ラーメン", [JAPANESE]),
        ("東京", [JAPANESE]),  # two characters: no trigram of their own
        ("库", [CHINESE]),  # one character
        ("について", [JAPANESE]),
        ("ฐานข้อมูล", [THAI]),
        (CHINESE, [CHINESE]),  # the whole run, as before
        ("数据库 or ラーメン", sorted([CHINESE, JAPANESE])),
        ("数据库 工具", [CHINESE]),  # both words, inside one run
        ("数据库 ラーメン", []),  # both words: no decision has both
        ("数据库 -迁移", []),  # the decision has the excluded word inside the same run
        ("数据库 -ラーメン", [CHINESE]),
        ("-数据库", sorted([JAPANESE, THAI, ENGLISH])),
        ('"数据库迁移"', [CHINESE]),
        ('"迁移数据库"', []),  # the characters in another order
        ("架构管理", []),  # each character is in the text, not this word
        ("京都", []),
        ("postgresql", [ENGLISH]),  # other scripts as before
    ],
)
def test_a_word_inside_text_without_spaces_is_found(corpus, lookup, q, expected):
    assert found(corpus, q) == expected


def test_a_phrase_holds_across_the_punctuation_that_separates_its_words(write_api, lookup):
    written = ["我们在東京・大阪工作", "大阪的工作和東京的生活", "東京大阪之间的高铁"]
    for text in written:
        record(write_api, text)
    assert found(write_api, "東京・大阪") == [written[0]]  # '東京' <-> '大阪'
    assert found(write_api, '"東京 大阪"') == [written[0]]  # two words next to each other
    assert found(write_api, '"東京大阪"') == [written[2]]
    assert found(write_api, "東京 大阪") == sorted(written)


def test_a_word_in_the_decision_outranks_the_same_word_in_its_reasoning(write_api, lookup):
    record(write_api, "Pick a migration tool", reasoning="我们需要数据库迁移")
    record(write_api, CHINESE)
    body = search(write_api, q="数据库")
    assert texts(body) == [CHINESE, "Pick a migration tool"]
    assert body["results"][0]["score_detail"]["text"] > body["results"][1]["score_detail"]["text"]


def test_a_word_inside_a_tag_is_found(write_api, lookup):
    record(write_api, "Ship the new schema", tags=["数据库迁移"])
    assert found(write_api, "数据库") == ["Ship the new schema"]


def test_the_product_filter_and_other_filters_still_apply(corpus):
    record(corpus, "数据库备份每天一次", product="Other")
    assert found(corpus, "数据库") == sorted([CHINESE, "数据库备份每天一次"])
    assert found(corpus, "数据库", product="CJK") == [CHINESE]


def test_another_users_decisions_stay_invisible(corpus, make_user, client_for):
    stranger = client_for(make_user())
    assert found(stranger, "数据库") == []
    record(stranger, "数据库的索引")
    assert found(stranger, "数据库") == ["数据库的索引"]
    assert found(corpus, "数据库") == [CHINESE]


def test_a_misspelt_word_of_those_scripts_is_not_corrected_into_another(corpus):
    # The typo fallback compares whole words by trigrams; a word inside a run never comes close,
    # so it would only be dropped, leaving "postgresql" to match alone.
    assert found(corpus, "数据车 postgresql") == []


# Seven runs of a query that no decision holds: with them, the query's 9th run is past the first
# ``INNER_RUNS_MAX`` (8) that match inside runs, which bounds the work of one request.
SEVEN_RUNS = "-甲 -乙 -丙 -丁 -戊 -庚 -辛"


def test_only_the_first_runs_of_a_query_match_inside_runs(corpus, lookup):
    assert found(corpus, f"迁移 -工具 {SEVEN_RUNS}") == []  # 工具 is the 2nd run: inside, excluded
    assert found(corpus, f"迁移 {SEVEN_RUNS} -工具") == [CHINESE]  # the 9th: a whole word, not in it


def test_a_query_of_many_words_of_those_scripts_still_finds_its_first(corpus, lookup):
    # The probe's shape: 250 distinct characters, with "or" and hyphens, within the 500 of q.
    q = "数据库 or " + "-".join(chr(0x4E00 + i) for i in range(245))
    assert CHINESE in found(corpus, q)


def test_the_kernel_export_finds_the_decision_by_a_word_inside_it(corpus):
    response = corpus.get("/api/v1/kernel/export", params={"format": "json", "query": "ラーメン", "decisions": 1})
    assert response.status_code == 200, response.text
    section = next(s for s in response.json()["sections"] if s["kind"] == "decisions")
    assert JAPANESE in section["content"]


def test_the_kernel_exports_search_by_words_excludes_a_word_inside_text_without_spaces(corpus, lookup):
    record(corpus, "迁移工具已经准备好", product="CJK")
    # Searched as written, then by any of its words with the exclusion given apart: both look for
    # '数据库' inside the runs, so neither brings back the decision that holds it inside one.
    response = corpus.post("/api/v1/kernel/export", json={"format": "json", "task": "迁移 工具 -数据库"})
    assert response.status_code == 200, response.text
    section = next(s for s in response.json()["sections"] if s["kind"] == "decisions")
    assert "迁移工具已经准备好" in section["content"] and CHINESE not in section["content"]


def test_the_mcp_search_decisions_tool_finds_it(corpus, user, make_key, base_url):
    result = Mcp(base_url, make_key(user, "read")).tool("search_decisions", {"query": "迁移工具"})
    assert [hit["decision"] for hit in result["results"]] == [CHINESE]


def test_runs_joined_by_hyphens_give_inner_words_only_to_decisions_holding_each(user, inproc_for, monkeypatch):
    # '数据-迁移' is one hyphenated word, each part required. Read as a possible exclusion, the hyphen
    # made every decision holding either run a candidate given words inside runs (a 499-character
    # query of one-character runs joined by hyphens took ~1 s over 3,000 Chinese decisions). The
    # texts are read, as past HOLDER_WORDS_MAX words holding a run.
    monkeypatch.setattr(ranking, "HOLDER_WORDS_MAX", 0)
    space = space_ensure_personal(user=user)
    product = product_ensure(space=space, name="CJK")
    rows = ["我们的数据-迁移工具"] + [f"数据仓库第{i}版" for i in range(10)]
    Decision.objects.bulk_create(Decision(space=space, product=product, decision=text) for text in rows)
    client = inproc_for(user, "read")
    with function_calls() as calls:
        response = client.get("/api/v1/memory/decisions/search", {"q": "数据-迁移"})
    assert response.status_code == 200, response.content
    assert texts(response.json()) == ["我们的数据-迁移工具"]
    assert calls.get("sx_inner_words", 0) <= 2  # the one decision holding both
