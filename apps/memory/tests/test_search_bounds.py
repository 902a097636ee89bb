"""Memory search bounds the work of one request however full the space's rows are or however long
the query is, within the documented limits (apps/memory/search.py):

- typo tolerance compares the first ``TYPO_TEXT_MAX`` characters of a long text (a product state
  with full lists holds ~150,000: a misspelt word over 50 of them took 3–5 s);
- a snippet is cut from ``SNIPPET_TEXT_MAX`` characters of a long text, around the first match
  (``types=product&limit=100`` spent ~1.5 s in ``ts_headline`` over 50 of them);
- typo tolerance compares the first ``TYPO_WORDS_MAX`` words of ``q`` within its first
  ``TYPO_QUERY_MAX`` characters (499 characters of one-letter words took 0.5–1 s over 3,000
  decisions);
- words of scripts written without spaces joined by hyphens need rows holding each of them.

The cost is not timed here (the machine is shared, as in test_search_work.py): these tests pin
the bounds through the API, and count the rows given words inside runs.
"""

import pytest
from django.db import connection

from apps.decisions import ranking
from apps.decisions.models import Decision
from apps.memory.models import TYPO_TEXT_MAX
from apps.memory.search import SNIPPET_TEXT_MAX, TYPO_QUERY_MAX, TYPO_WORDS_MAX, typo_query
from apps.memory.tests.test_search_api import add_memory
from apps.memory.tests.test_search_work import function_calls
from apps.products.api.serializers import LIST_ITEM_MAX, LIST_MAX_ITEMS
from apps.products.services import product_ensure
from apps.scopes.services import space_ensure_personal

URL = "/api/v1/memory/search"
pytestmark = pytest.mark.django_db
FILLER = ["billing", "invoice", "customer", "release", "staging", "rollout", "latency", "quota"]
MATCH = "Postgres replicas lag at night"


def filler(i: int, length: int = LIST_ITEM_MAX) -> str:
    """``length`` characters of words no query here comes near (whole words, one of them cut)."""
    words = (FILLER[(i + k) % len(FILLER)] for k in range(length))
    return " ".join(words)[:length]


def write_full_product(client, name: str, *, first: str | None = None, last: str | None = None) -> None:
    """A product state with its three lists at their maximum size through the API, ``first`` its
    first item, ``last`` its last."""
    items = [filler(i) for i in range(3 * LIST_MAX_ITEMS)]
    items[0] = first or items[0]
    items[-1] = last or items[-1]
    lists = ("what_works", "what_is_blocked", "open_questions")
    body = {key: items[i * LIST_MAX_ITEMS : (i + 1) * LIST_MAX_ITEMS] for i, key in enumerate(lists)}
    response = client.post(f"/api/v1/memory/product/{name}/state", body, format="json")
    assert response.status_code == 201, response.content


def search(client, **params) -> dict:
    response = client.get(URL, params)
    assert response.status_code == 200, response.content
    return response.json()


def test_a_typo_is_looked_for_in_the_first_characters_of_a_long_text(user, inproc_for):
    client = inproc_for(user)
    space = space_ensure_personal(user=user)
    write_full_product(client, "Early", first=MATCH)
    write_full_product(client, "Late", last=MATCH)  # ~150,000 characters in
    early = add_memory(space, f"{MATCH}. {filler(0, 90_000)}")
    add_memory(space, f"{filler(1, 90_000)}. {MATCH}")
    body = search(client, q="postgress")  # a typo of "Postgres"
    assert {(item["type"], item["product"] or item["id"]) for item in body["results"]} == {
        ("product", "Early"),
        ("memory", str(early.memory_id)),
    }
    assert all(item["score"] <= 0.5 for item in body["results"])  # typo-only hits
    # Full text reads all of each text: the word as written is found in all four.
    assert search(client, q="postgres")["count"] == 4
    assert TYPO_TEXT_MAX < LIST_ITEM_MAX * LIST_MAX_ITEMS


def test_a_long_texts_snippet_is_cut_from_around_the_first_match(user, inproc_for):
    client = inproc_for(user)
    write_full_product(client, "Deep", last="Kubernetes upgrade waits for a window")
    write_full_product(client, "Greek", first="alpha release notes", last="alpha beta window")
    [deep] = search(client, q="kubernetes", types="product")["results"]
    # A match ~150,000 characters in is still found and highlighted.
    assert "**Kubernetes** upgrade waits for a window" in deep["snippet"]
    # The snippet comes from the SNIPPET_TEXT_MAX characters around the first word of the query
    # in the text: "alpha beta" together lies further in than that, past what ts_headline reads.
    [greek] = search(client, q="alpha beta", types="product")["results"]
    assert "**alpha** release notes" in greek["snippet"]
    assert "**beta**" not in greek["snippet"]
    assert SNIPPET_TEXT_MAX < LIST_ITEM_MAX * LIST_MAX_ITEMS


def test_typo_tolerance_compares_the_first_words_of_the_query(user, inproc_for):
    space = space_ensure_personal(user=user)
    words = [f"w{i}" for i in range(1, 21)]  # short: the 16th word ends within 64 characters
    text = " ".join(["Postgres", *words])
    Decision.objects.create(space=space, product=product_ensure(space=space, name="Atlas"), decision=text)
    q = " ".join(["postgress", *words])  # a typo, then 20 words as written: 21 words
    [hit] = search(inproc_for(user), q=q)["results"]
    head = typo_query(q)
    assert head == " ".join(["postgress", *words[: TYPO_WORDS_MAX - 1]])
    with connection.cursor() as cursor:
        cursor.execute("SELECT 0.5 * word_similarity(querytree(websearch_to_tsquery('simple', %s)), %s)", [head, text])
        assert hit["score"] == round(cursor.fetchone()[0], 6)  # the first 16 words compared, not all 21


@pytest.mark.parametrize(
    ("q", "head"),
    [
        ("deplyo", "deplyo"),
        ('"rollbak the deplyo" -staging', '"rollbak the deplyo" -staging'),  # short: the whole query
        ("-".join("abcdefghijklmnopqrstuvwxyz" * 10)[:499], "-".join("abcdefghijklmnop")),  # 16 words
        ("-".join("中文字" * 90)[:499], "-".join(("中文字" * 6)[:16])),
        (" ".join(["deployment"] * 8), " ".join(["deployment"] * 5)),  # the 6th word ends past 64
        ("x" * 70 + " deplyo", ""),  # a first word that long is matched only as written
    ],
)
def test_the_typo_tolerant_part_of_a_query_is_bounded(q, head):
    assert typo_query(q) == head
    assert len(head) <= TYPO_QUERY_MAX


def test_a_long_query_without_typo_tolerant_words_still_finds_full_text_matches(user, inproc_for):
    space = space_ensure_personal(user=user)
    word = "x" * 70
    add_memory(space, f"The token {word} rotates daily")
    assert search(inproc_for(user), q=word)["count"] == 1


def test_runs_joined_by_hyphens_give_inner_words_only_to_rows_holding_each(user, inproc_for, monkeypatch):
    # '数据-迁移' is one hyphenated word: a match holds both runs. Read as a possible exclusion,
    # the hyphen made every row holding either one a candidate, each given words inside runs
    # (0.3–0.4 s over 3,000 Chinese decisions for 8 one-character runs). The decisions' texts are
    # read, as past HOLDER_WORDS_MAX words holding a run (the space's words would find every row
    # holding one: at most that many words).
    monkeypatch.setattr(ranking, "HOLDER_WORDS_MAX", 0)
    space = space_ensure_personal(user=user)
    product = product_ensure(space=space, name="Atlas")
    texts = ["我们的数据-迁移工具"] + [f"数据仓库第{i}版" for i in range(10)]
    Decision.objects.bulk_create(Decision(space=space, product=product, decision=text) for text in texts)
    client = inproc_for(user, "read")
    with function_calls() as calls:
        body = search(client, q="数据-迁移", types="decision")
    assert [item["title"] for item in body["results"]] == ["我们的数据-迁移工具"]
    # The one row holding both, once for each use of its document (matched, ranked, scored).
    assert calls.get("sx_inner_words", 0) <= 4
