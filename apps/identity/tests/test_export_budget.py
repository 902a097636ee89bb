"""The kernel export's token budget over real HTTP: nothing is dropped while it fits, the bound is
never exceeded, and the JSON form's token breakdown adds up (SPEC §9)."""

from __future__ import annotations

import pytest

from apps.accounts.models import ApiKey
from apps.products.models import ProductState
from synchronex.api.tokens import count_tokens

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/kernel/export"
KERNEL = "/api/v1/memory/identity"
ITEMS = [f"Blocked {i}: waiting on the vendor to confirm the contract." for i in range(100)]
# All 100 items take about 1,525 tokens, each decision about 30 more: two fit in 1,600, not three.
DOTS_DECISIONS = [
    "Dots ships weekly on Tuesdays, after the full regression suite passes on staging.",
    "Dots keeps all of its data in one PostgreSQL schema, with nightly logical backups.",
    "Dots drops the legacy CSV importer next quarter, once every customer has moved.",
]
DECISION_HEADINGS = {
    "markdown": "\n\n# Relevant decisions\n\n",
    "text": "\n\nRelevant decisions\n==================\n\n",
}


def export(api, fmt: str, **params):
    """(the response, its content) of a GET export in ``fmt``."""
    response = api.get(URL, params={"format": fmt, **params})
    assert response.status_code == 200, response.text
    return response, response.json()["content"] if fmt == "json" else response.text


@pytest.fixture
def dots(write_api):
    """Product Dots with 100 blocked items and three decisions of its own (no kernel)."""
    response = write_api.post("/api/v1/memory/product/Dots/state", json={"status": "active", "what_is_blocked": ITEMS})
    assert response.status_code in (200, 201), response.text
    for text in DOTS_DECISIONS:
        created = write_api.post("/api/v1/memory/decisions", json={"decision": text, "product_name": "Dots"})
        assert created.status_code == 201, created.text
    return write_api


def cut_of(full: str, fmt: str, items: int, decisions: int) -> str:
    """The export with only the first ``items`` list items and ``decisions`` decisions, made from
    the export ``full`` that holds them all (Dots: the items are the product section's last lines)."""
    product, _, rest = full.partition(DECISION_HEADINGS[fmt])
    lines = product.split("\n")
    first = next(n for n, line in enumerate(lines) if line.startswith("- Blocked"))
    product = "\n".join(lines[: first + items])
    if not decisions:
        return product
    return product + DECISION_HEADINGS[fmt] + "\n\n".join(rest.split("\n\n")[:decisions])


def kept_of(content: str) -> tuple[int, int]:
    """(list items, decisions) in a Dots export."""
    return content.count("\n- Blocked "), content.count("] Dots: ")


class TestNothingDroppedWhileItFits:
    def test_dots_keeps_all_100_items_and_two_decisions_in_1600(self, dots):
        _, full = export(dots, "json", product="Dots", decisions=5, max_tokens=8000)
        assert kept_of(full) == (100, 3)
        assert count_tokens(cut_of(full, "markdown", 100, 2)) <= 1600 < count_tokens(full)
        response, content = export(dots, "json", product="Dots", decisions=5, max_tokens=1600)
        body = response.json()
        assert kept_of(content) == (100, 2), body["tokens"]
        assert content == cut_of(full, "markdown", 100, 2)
        assert body["tokens"]["total"] == count_tokens(content) <= 1600
        assert int(response.headers["X-Synchronex-Tokens"]) == body["tokens"]["total"]

    @pytest.mark.parametrize("fmt", ["markdown", "text", "json"])
    def test_a_sweep_of_budgets_fills_each_without_exceeding_it(self, dots, fmt):
        shape = "markdown" if fmt == "json" else fmt  # the JSON form's content is Markdown
        _, full = export(dots, fmt, product="Dots", decisions=5, max_tokens=8000)
        for max_tokens in range(500, 1700, 23):
            response, content = export(dots, fmt, product="Dots", decisions=5, max_tokens=max_tokens)
            total = count_tokens(content)
            assert total <= max_tokens, (fmt, max_tokens)
            assert int(response.headers["X-Synchronex-Tokens"]) == total
            items, decisions = kept_of(content)
            assert content == cut_of(full, shape, items, decisions), (fmt, max_tokens)
            # Whatever was left out does not fit: the next list item, else the next decision.
            if items < 100:
                assert decisions == 0 and count_tokens(cut_of(full, shape, items + 1, 0)) > max_tokens
            elif decisions < 3:
                assert count_tokens(cut_of(full, shape, 100, decisions + 1)) > max_tokens, (fmt, max_tokens)


def decision(api, text, product, **fields):
    response = api.post("/api/v1/memory/decisions", json={"decision": text, "product_name": product, **fields})
    assert response.status_code == 201, response.text


def assert_breakdown_adds_up(api, **params):
    response = api.get(URL, params={"format": "json", **params})
    assert response.status_code == 200, response.text
    body = response.json()
    tokens = body["tokens"]
    assert tokens["total"] == count_tokens(body["content"]) == int(response.headers["X-Synchronex-Tokens"])
    assert tokens["kernel"] + tokens["product"] + tokens["decisions"] == tokens["total"], tokens
    by_kind = {section["kind"]: section["tokens"] for section in body["sections"]}
    assert {kind: tokens[kind] for kind in ("kernel", "product", "decisions")} == {
        kind: by_kind.get(kind, 0) for kind in ("kernel", "product", "decisions")
    }
    return body


class TestTokenBreakdown:
    def test_the_sections_add_up_to_the_total(self, write_api):
        write_api.put(KERNEL, json={"identity": {"name": "Bob"}, "constraints": {"communication_style": "Terse"}})
        write_api.post("/api/v1/memory/product/Zed/state", json={"next_session_starts_here": "Fix the login bug"})
        decision(write_api, "Zed logs in with passkeys.", "Zed", reasoning="Fewer support tickets.")
        body = assert_breakdown_adds_up(write_api, product="Zed")
        assert [s["kind"] for s in body["sections"]] == ["kernel", "product", "decisions"]
        assert_breakdown_adds_up(write_api)  # kernel and decisions
        assert_breakdown_adds_up(write_api, product="Zed", decisions=0)  # kernel and product
        assert_breakdown_adds_up(write_api, product="Zed", max_tokens=100)

    def test_without_a_kernel_the_sections_add_up_too(self, write_api):
        write_api.post("/api/v1/memory/product/Zed/state", json={"status": "paused", "what_works": ["Login."]})
        decision(write_api, "Zed keeps sessions for 30 days!", "Zed", tags=["auth"])
        decision(write_api, "Other work", "Other", affects_products=["Zed"])
        body = assert_breakdown_adds_up(write_api, product="Zed")
        assert [s["kind"] for s in body["sections"]] == ["product", "decisions"]
        assert_breakdown_adds_up(write_api)  # decisions only
        assert_breakdown_adds_up(write_api, product="Zed", decisions=1)


class TestProductsKnownOnlyByPropagation:
    @pytest.fixture
    def kiwi(self, write_api):
        decision(write_api, "Casefold propagation check kiwi", "Beta", affects_products=["  ALPHA  ", "Ünicode Prod"])
        return write_api

    @pytest.mark.parametrize("name", ["Ünicode Prod", "ünicode prod", " ÜNICODE PROD ", "alpha"])
    def test_a_product_only_decisions_affect_exports_those_decisions(self, kiwi, name):
        search = kiwi.get("/api/v1/memory/decisions/search", params={"q": "kiwi", "product": name})
        assert search.status_code == 200 and search.json()["count"] == 1, search.text
        body = assert_breakdown_adds_up(kiwi, product=name, query="kiwi")
        assert [s["kind"] for s in body["sections"]] == ["decisions"]
        assert "Beta: Casefold propagation check kiwi" in body["content"]
        post = kiwi.post(URL, json={"product": name, "query": "kiwi"})
        assert post.status_code == 200 and "Casefold propagation check kiwi" in post.text

    def test_a_name_neither_a_product_nor_a_decision_knows_is_not_found(self, kiwi):
        response = kiwi.get(URL, params={"product": "Unicode Prod", "query": "kiwi"})
        assert response.status_code == 404 and response.json()["error"]["code"] == "NOT_FOUND"

    def test_without_decisions_read_such_a_name_stays_unknown(self, kiwi, monkeypatch):
        original = ApiKey.allows
        monkeypatch.setattr(ApiKey, "allows", lambda self, scope: scope != "decisions:read" and original(self, scope))
        assert kiwi.get(URL, params={"product": "Ünicode Prod"}).status_code == 404


NEVER = [f"Never do thing number {i} without asking the team first, ever" for i in range(14)]
ALWAYS = [f"Always check item {i} twice before you ship it to users" for i in range(10)]
ADA = {"name": "Ada Lovelace", "role": "Founder", "company": "Engines Ltd", "location": "London"}
# None, and blocks of about 107, 195 and 445 tokens: shortened by whole lines at the smallest
# budgets of the sweep, then whole; at the first half of it; at all of it.
SWEEP_KERNELS = {
    "none": None,
    "small": {"identity": ADA, "constraints": {"never": NEVER[:6]}},
    "medium": {"identity": ADA, "constraints": {"never": NEVER[:7], "always": ALWAYS[:5]}},
    "large": {
        "identity": ADA,
        "constraints": {
            "never": NEVER,
            "always": ALWAYS,
            "communication_style": "Terse, direct, no filler words at all",
        },
        "products": [{"name": f"P{i}", "summary": "a product summary of some length " * 2} for i in range(3)],
    },
}
SWEEP_STATES = {
    "lists": {
        "what_works": [f"Works item {i}." for i in range(5)],
        "what_is_blocked": [f"Blocked item {i}: waiting on the vendor contract." for i in range(4)],
        "open_questions": [f"Question {i}?" for i in range(3)],
    },
    "texts": {
        "next_session_starts_here": "Fix the deploy pipeline and then " * 3,
        "what_works": [f"Works item {i}: the parser handles input kind {i}." for i in range(8)],
        "what_is_blocked": [f"Blocked item {i}." for i in range(3)],
        "open_questions": [f"Question {i}: which region goes first?" for i in range(4)],
    },
}


class TestALargerBudgetKeepsWhatASmallerOneKept:
    """A section present at a budget stays at every larger one, and keeps every line it had. A
    kernel shortened to fit left room its parts after it took (a product section present at 100
    tokens and gone at 150, where the whole kernel fitted), and a part that did not fit was
    skipped for smaller ones after it, which a larger budget, where it fitted, dropped again."""

    def test_the_product_section_next_to_a_shortened_kernel_stays_next_to_the_whole_one(self, write_api):
        """As a probe saw it: a kernel shortened to fit 100 tokens left room for the product's status
        line, which the whole kernel, fitting 150, did not: the product was gone at 150."""
        never = [f"Never {i}: " + "ship " * 26 for i in range(4)]
        assert (
            write_api.put(KERNEL, json={"identity": {"name": "Ada"}, "constraints": {"never": never}}).status_code
            == 200
        )
        assert write_api.post("/api/v1/memory/product/Dots/state", json={"status": "active"}).status_code == 201
        whole = export(write_api, "json", product="Dots", max_tokens=8000)[0].json()["tokens"]
        assert whole["kernel"] <= 150 < whole["kernel"] + whole["product"] <= 200, whole  # the case itself

        def kinds(max_tokens: int) -> list[str]:
            body = export(write_api, "json", product="Dots", max_tokens=max_tokens)[0].json()
            return [section["kind"] for section in body["sections"]]

        assert kinds(100) == kinds(150) == ["kernel"]  # a shortened kernel is all the export holds
        assert kinds(whole["kernel"] + whole["product"]) == ["kernel", "product"]

    @pytest.mark.parametrize("state", list(SWEEP_STATES))
    @pytest.mark.parametrize("kernel", list(SWEEP_KERNELS))
    def test_a_sweep_of_budgets_never_loses_a_section_or_a_line(self, write_api, kernel, state):
        if SWEEP_KERNELS[kernel]:
            assert write_api.put(KERNEL, json=SWEEP_KERNELS[kernel]).status_code == 200
        response = write_api.post("/api/v1/memory/product/Dots/state", json={"status": "active", **SWEEP_STATES[state]})
        assert response.status_code == 201, response.text
        if state == "texts":  # written by session ends (MCP), not the REST body
            ProductState.objects.filter(name="Dots").update(last_session_summary="We shipped the login. " * 6)
        for i in range(3):
            decision(write_api, f"Dots decision {i} about storage", "Dots", reasoning="Because it is simpler. " * 3)
        before: dict[str, list[str]] = {}
        for max_tokens in range(100, 401, 4):
            body = write_api.get(URL, params={"format": "json", "product": "Dots", "max_tokens": max_tokens}).json()
            assert count_tokens(body["content"]) <= max_tokens
            now = {section["kind"]: section["content"].splitlines() for section in body["sections"]}
            for kind, lines in before.items():
                assert kind in now, (max_tokens, kind, "gone")
                # The identity line sheds fields at a small budget: it grows back from the end.
                lost = [line for line in lines if not any(later.startswith(line) for later in now[kind])]
                assert not lost, (max_tokens, kind, lost)
            before = now
        # The sweep reaches the product section, unless the kernel alone takes every budget.
        assert ("product" in before) == (kernel != "large"), list(before)
