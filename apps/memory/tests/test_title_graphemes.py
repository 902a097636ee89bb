"""Search titles and Markdown-export headings are cut between two user-perceived characters
(grapheme clusters), never inside a flag, a ZWJ emoji sequence or a letter with its combining
mark, and stay within 120 code points. Over real HTTP."""

from __future__ import annotations

import pytest

from apps.memory.tests.mif_support import export

pytestmark = pytest.mark.django_db(transaction=True)

HEAD = "Zeppelin "  # 9 characters: the word searched for
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # 7 code points, one character
# Each straddles code point 119, where a title of more than 120 is cut (119 and "…").
CASES = {
    "flag": (HEAD + "x" * 109 + "\U0001f1e9\U0001f1ea tail", HEAD + "x" * 109 + "…"),
    "zwj": (HEAD + "x" * 107 + FAMILY + " tail", HEAD + "x" * 107 + "…"),
    "mark": (HEAD + "x" * 109 + "\u0915\u093f tail", HEAD + "x" * 109 + "…"),
}


@pytest.mark.parametrize("kind", CASES)
def test_a_search_title_is_cut_between_grapheme_clusters(write_api, kind):
    text, title = CASES[kind]
    created = write_api.post("/api/v1/memory/decisions", json={"decision": text, "product_name": "Uni"})
    assert created.status_code == 201, created.text
    response = write_api.get("/api/v1/memory/search", params={"q": "zeppelin", "types": "decision"})
    assert response.status_code == 200, response.text
    (hit,) = response.json()["results"]
    assert hit["title"] == title and len(hit["title"]) <= 120


def test_markdown_export_headings_are_cut_between_grapheme_clusters(write_api):
    for text, _ in CASES.values():
        assert (
            write_api.post("/api/v1/memory/decisions", json={"decision": text, "product_name": "Uni"}).status_code
            == 201
        )
    markdown = export(write_api, format="markdown").text
    headings = [line for line in markdown.splitlines() if line.startswith("### " + HEAD)]
    assert sorted(headings) == sorted(f"### {title}" for _, title in CASES.values())
