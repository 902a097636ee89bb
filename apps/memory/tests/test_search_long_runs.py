"""A run of a script written without spaces longer than PostgreSQL's word limit (2,047 bytes) is
still searched: the parser dropped it from the search document ("word is too long to be
indexed"), so a long Chinese, Japanese or Thai paragraph without punctuation was found by no word
of it. ``sx_searchable`` (migration memory 0013) splits such runs into overlapping pieces."""

from __future__ import annotations

import pytest
from django.db import connection

from apps.identity.services import kernel_update
from apps.memory.tests.test_search_api import add_memory
from apps.products.services import product_state_write
from apps.scopes.services import space_ensure_personal

pytestmark = pytest.mark.django_db(transaction=True)
URL = "/api/v1/memory/search"
WORD_LIMIT = 2047  # bytes: PostgreSQL's MAXSTRLEN of a lexeme
PIECE, STEP = 500, 250  # characters, as migration memory 0013

FILLER_ZH = "我们决定使用新的架构来管理服务"  # 15 characters, none of the searched words
FILLER_JA = "東京の店について調査した結果を記録する"
FILLER_TH = "เราตัดสินใจใช้ระบบใหม่สำหรับบริการ"


def long_run(filler: str, phrase: str, at: int, total: int = 1_500) -> str:
    """``filler`` repeated to ``total`` characters with ``phrase`` at character ``at``, no space."""
    text = (filler * (total // len(filler) + 1))[:total]
    return text[:at] + phrase + text[at:]


@pytest.fixture
def space(user):
    return space_ensure_personal(user=user)


def memory_hits(client, q: str, **params) -> list[tuple[str, str]]:
    response = client.get(URL, params={"q": q, **params})
    assert response.status_code == 200, response.text
    return [(item["type"], item["id"]) for item in response.json()["results"]]


def pieces(text: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT sx_searchable(%s)", [text])
        return cursor.fetchone()[0].split(" ")


@pytest.mark.parametrize(
    ("filler", "phrase"),
    [(FILLER_ZH, "数据库迁移工具"), (FILLER_JA, "ラーメン屋"), (FILLER_TH, "ฐานข้อมูล")],
)
@pytest.mark.parametrize("at", [0, 249, 499, 700, 1_490])  # at the start, across piece bounds, at the end
def test_a_word_inside_a_long_run_of_a_memory_is_found(space, write_api, filler, phrase, at):
    text = long_run(filler, phrase, at)
    assert len(text.encode()) > WORD_LIMIT
    memory = add_memory(space, text)
    add_memory(space, long_run(filler, "", 0))  # the same run without the phrase
    assert memory_hits(write_api, phrase, types="memory") == [("memory", str(memory.memory_id))]
    with connection.cursor() as cursor:  # a full-text hit, not a fuzzy one of the text
        cursor.execute(
            "SELECT count(*) FROM memory_memory, unnest(search) w WHERE id = %s AND strpos(w.lexeme, %s) > 0",
            [memory.pk, phrase],
        )
        assert cursor.fetchone()[0] >= 1


def test_a_word_inside_a_long_run_of_a_product_and_the_kernel_is_found(space, write_api):
    product_state_write(space=space, name="Noodles", changes={"what_works": [long_run(FILLER_JA, "ラーメン屋", 900)]})
    kernel_update(space=space, changes={"identity": {"role": long_run(FILLER_ZH, "数据库迁移工具", 900)}}, actor="t")
    assert [t for t, _ in memory_hits(write_api, "ラーメン屋", types="product")] == ["product"]
    assert [t for t, _ in memory_hits(write_api, "数据库迁移工具", types="identity")] == ["identity"]


def test_long_runs_become_overlapping_pieces_below_the_word_limit(db):
    run = long_run(FILLER_ZH, "", 0, total=2_000) + "𠀀" * 600  # four bytes each
    split = pieces(f"before {run}, after")
    assert split[0] == "before" and split[-1] == "after"
    middle = split[1:-1]
    middle[-1] = middle[-1].rstrip(",")
    assert all(len(piece.encode()) < WORD_LIMIT for piece in middle)
    assert [len(piece) for piece in middle[:-1]] == [PIECE] * (len(middle) - 1)
    assert "".join(piece[:STEP] for piece in middle[:-1]) + middle[-1] == run
    # Every part of at most STEP + 1 characters lies whole inside a piece.
    for start in range(0, len(run) - STEP, 97):
        assert any(run[start : start + STEP + 1] in piece for piece in middle)


def test_short_runs_and_other_text_are_left_as_they_are(db):
    for text in ("", "Use PostgreSQL", FILLER_ZH * 40, "a" * 2_000, f"{FILLER_ZH * 30} {FILLER_TH * 20}"):
        assert pieces(text) == text.split(" ")
