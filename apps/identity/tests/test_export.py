"""GET/POST /api/v1/kernel/export over real HTTP: formats, order, the token budget, options."""

from __future__ import annotations

import pytest

from apps.accounts.models import ApiKey
from apps.byok.services import byok_credential_create
from apps.byok.tests.helpers import fresh_key
from apps.products.models import ProductState
from apps.scopes.services import space_ensure_personal
from synchronex.api.models import IdempotencyRecord
from synchronex.api.tokens import count_tokens

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/kernel/export"
KERNEL = "/api/v1/memory/identity"

HUGE_KERNEL = {
    "identity": {field: f"{field} " + "word " * 38 for field in ("name", "company", "role")},
    "constraints": {
        "never": [f"never {i}: " + "careful " * 35 for i in range(50)],
        "always": [f"always {i}: " + "please " * 35 for i in range(50)],
    },
    "products": [{"name": f"P{i}", "summary": "summary " * 60} for i in range(10)],
}


def product_state(api, name="Engine", **fields):
    body = {
        "status": "active",
        "what_works": ["Parser handles every input"],
        "what_is_blocked": ["Deploy waits on DNS"],
        "open_questions": ["Which region first?"],
        "next_session_starts_here": "Fix the deploy pipeline",
        **fields,
    }
    response = api.post(f"/api/v1/memory/product/{name}/state", json=body)
    assert response.status_code in (200, 201), response.text
    return response.json()


def decision(api, text, product="Engine", **fields):
    response = api.post("/api/v1/memory/decisions", json={"decision": text, "product_name": product, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def export_json(api, **params):
    response = api.get(URL, params={"format": "json", **params})
    assert response.status_code == 200, response.text
    return response.json()


def decisions_of(body) -> list[str]:
    """The first line of each exported decision, in order."""
    section = next((s for s in body["sections"] if s["kind"] == "decisions"), None)
    if section is None:
        return []
    return [block.splitlines()[0] for block in section["content"].split("\n\n")]


@pytest.fixture
def filled(write_api):
    """A kernel, a product with state and three decisions (one of another product affecting it)."""
    write_api.put(KERNEL, json={"identity": {"name": "Ada"}, "constraints": {"never": ["Guess"]}})
    product_state(write_api)
    decision(write_api, "Use PostgreSQL for storage", reasoning="One engine everywhere")
    decision(write_api, "Ship the CLI before the web app", tags=["roadmap"])
    decision(write_api, "Billing uses Stripe", product="Billing", affects_products=["Engine"])
    return write_api


class TestFormats:
    def test_markdown_is_the_default_in_injection_order(self, filled):
        response = filled.get(URL, params={"product": "engine"})
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "text/markdown; charset=utf-8"
        assert response.headers["X-Synchronex-Scope"] == "personal"
        text = response.text
        assert int(response.headers["X-Synchronex-Tokens"]) == count_tokens(text)
        kernel_at, product_at, decisions_at = (
            text.index("# Identity kernel"),
            text.index("# Product: Engine"),
            text.index("# Relevant decisions"),
        )
        assert 0 == kernel_at < product_at < decisions_at
        assert "## Never\n- Guess" in text
        assert "## What is blocked\n- Deploy waits on DNS" in text
        assert "## Next session starts here\nFix the deploy pipeline" in text
        assert "Billing: Billing uses Stripe" in text  # another product's decision affecting this one
        assert "Content-Disposition" not in response.headers

    def test_text_has_no_markdown_marks(self, filled):
        response = filled.get(URL, params={"product": "Engine", "format": "text"})
        assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
        text = response.text
        assert "#" not in text and "**" not in text
        assert text.startswith("Identity kernel\n===============\n\nIdentity:\nAda\n\nNever:\n- Guess")
        assert "Product: Engine\n===============" in text and "What works:\n- Parser handles every input" in text

    def test_json_has_sections_tokens_and_content(self, filled):
        body = export_json(filled, product="Engine")
        assert set(body) == {"format", "scope", "tokens", "truncated", "sections", "content", "generated_at"}
        assert body["format"] == "json" and body["scope"] == "personal"
        assert body["generated_at"].endswith("Z")
        assert [s["kind"] for s in body["sections"]] == ["kernel", "product", "decisions"]
        assert [s["title"] for s in body["sections"]] == ["Identity kernel", "Product: Engine", "Relevant decisions"]
        assert body["tokens"]["total"] == count_tokens(body["content"])
        before = ""  # a section's tokens: what it adds to the content, the blank line before it too
        for section in body["sections"]:
            part = ("\n\n" if before else "") + f"# {section['title']}\n\n{section['content']}"
            assert section["tokens"] == count_tokens(before + part) - count_tokens(before)
            assert body["tokens"][section["kind"]] == section["tokens"]
            before += part
        assert before == body["content"]
        assert body["sections"][0]["content"] == filled.get(KERNEL).json()["injection_block"]

    def test_empty_space_exports_empty_content(self, write_api):
        body = export_json(write_api)
        assert body["content"] == "" and body["sections"] == []
        assert body["tokens"] == {"total": 0, "kernel": 0, "product": 0, "decisions": 0}
        assert write_api.get(URL).text == ""

    def test_without_product_only_kernel_and_decisions(self, filled):
        body = export_json(filled)
        assert [s["kind"] for s in body["sections"]] == ["kernel", "decisions"]
        assert body["tokens"]["product"] == 0

    @pytest.mark.parametrize("fmt,extension", [("markdown", "md"), ("text", "txt"), ("json", "json")])
    def test_download_answers_an_attachment(self, filled, fmt, extension):
        response = filled.get(URL, params={"format": fmt, "download": "true"})
        disposition = response.headers["Content-Disposition"]
        assert disposition.startswith('attachment; filename="synchronex-context-')
        assert disposition.endswith(f'.{extension}"')

    def test_post_takes_the_same_options_as_json(self, filled):
        response = filled.post(URL, json={"format": "json", "product": "Engine", "download": True, "decisions": 1})
        assert response.status_code == 200, response.text
        body = response.json()
        assert [s["kind"] for s in body["sections"]] == ["kernel", "product", "decisions"]
        assert len(decisions_of(body)) == 1
        assert response.headers["Content-Disposition"].endswith('.json"')
        assert filled.post(URL, json={}).headers["Content-Type"] == "text/markdown; charset=utf-8"

    def test_post_with_an_idempotency_key_is_answered_afresh_and_keeps_nothing(self, filled):
        """A read keeps no copy of its answer under the key: a retry never serves a decision deleted
        since (SPEC §6, a real delete)."""
        secret = decision(filled, "Hire the contractor for Engine", reasoning="Salary 180k, do not share")
        headers = {"Idempotency-Key": "export-1"}
        first = filled.post(URL, json={"product": "Engine", "format": "text"}, headers=headers)
        assert first.status_code == 200 and "Salary 180k" in first.text
        assert filled.delete(f"/api/v1/memory/decisions/{secret['id']}").status_code == 204
        again = filled.post(URL, json={"product": "Engine", "format": "text"}, headers=headers)
        assert again.status_code == 200 and "Idempotent-Replayed" not in again.headers
        assert "Salary 180k" not in again.text and "Use PostgreSQL for storage" in again.text
        assert not IdempotencyRecord.objects.filter(path=URL).exists()

    def test_post_checks_the_idempotency_keys_form_as_every_post_does(self, filled):
        response = filled.post(URL, json={}, headers={"Idempotency-Key": "sent,twice"})
        assert response.status_code == 400 and "Idempotency-Key" in response.json()["error"]["details"]["fields"]


class TestRelevance:
    def test_query_ranks_matching_decisions_first(self, filled):
        body = export_json(filled, query="postgresql storage", decisions=1)
        assert decisions_of(body) == [decisions_of(body)[0]]
        assert "Use PostgreSQL for storage" in decisions_of(body)[0]

    def test_task_is_the_same_as_query(self, filled):
        assert decisions_of(export_json(filled, task="stripe billing")) == decisions_of(
            export_json(filled, query="stripe billing")
        )

    def test_long_task_text_in_a_post_finds_what_it_mentions(self, filled):
        task = ("We are planning the next sprint and need context about many unrelated things. " * 150) + (
            "In particular we must revisit how Stripe charges customers."
        )
        assert len(task) > 10_000
        response = filled.post(URL, json={"format": "json", "task": task, "decisions": 1})
        assert response.status_code == 200, response.text
        assert "Billing uses Stripe" in decisions_of(response.json())[0]

    def test_decisions_zero_leaves_them_out(self, filled):
        body = export_json(filled, product="Engine", decisions=0)
        assert [s["kind"] for s in body["sections"]] == ["kernel", "product"]

    def test_decisions_need_the_decisions_read_scope(self, filled, monkeypatch):
        original = ApiKey.allows
        monkeypatch.setattr(ApiKey, "allows", lambda self, scope: scope != "decisions:read" and original(self, scope))
        body = export_json(filled, product="Engine")
        assert [s["kind"] for s in body["sections"]] == ["kernel", "product"]
        assert body["tokens"]["decisions"] == 0
        assert "Stripe" not in body["content"]


class TestBudget:
    @pytest.fixture
    def huge(self, write_api):
        assert write_api.put(KERNEL, json=HUGE_KERNEL).json()["truncated"] is True
        item = "detail " * 60
        product_state(
            write_api,
            what_works=[f"works {i}: {item}" for i in range(100)],
            what_is_blocked=[f"blocked {i}: {item}" for i in range(100)],
            open_questions=[f"question {i}: {item}" for i in range(100)],
            next_session_starts_here="start " * 600,
        )
        ProductState.objects.filter(name="Engine").update(last_session_summary="summary " * 2000)
        for i in range(24):
            decision(write_api, f"Decision {i} about the engine storage", reasoning="because " * 1200)
        return write_api

    def test_never_exceeds_max_tokens(self, huge):
        for fmt in ("markdown", "text", "json"):
            for max_tokens in (100, 101, 250, 600, 1500, 2999, 4000, 8000):
                params = {"format": fmt, "product": "Engine", "query": "engine storage", "decisions": 20}
                response = huge.get(URL, params={**params, "max_tokens": max_tokens})
                assert response.status_code == 200, response.text
                content = response.json()["content"] if fmt == "json" else response.text
                assert count_tokens(content) <= max_tokens, (fmt, max_tokens)
                # Filled, except where the next part, the 2,000-token summary, does not fit: it ends
                # the export (at 1,500 and 2,999).
                assert 0.8 * max_tokens < count_tokens(content) or (
                    "start start" in content and "summary summary" not in content
                ), (fmt, max_tokens)
                assert int(response.headers["X-Synchronex-Tokens"]) == count_tokens(content)

    def test_without_product_decisions_fill_the_budget(self, huge):
        kept = {}
        for max_tokens in (700, 3000, 8000):
            body = export_json(huge, query="engine storage", decisions=20, max_tokens=max_tokens)
            assert count_tokens(body["content"]) <= max_tokens
            assert body["sections"][0]["kind"] == "kernel"
            kept[max_tokens] = decisions_of(body)
        # Each decision is about 1,200 tokens: none fits next to the kernel in 700.
        assert kept[700] == [] and 1 <= len(kept[3000]) < len(kept[8000]) <= 20
        assert kept[3000] == kept[8000][: len(kept[3000])]

    def test_post_with_long_task_never_exceeds_max_tokens(self, huge):
        task = "Work on the engine storage layer and its deploy. " * 400
        response = huge.post(URL, json={"product": "Engine", "task": task, "max_tokens": 3000, "decisions": 20})
        assert response.status_code == 200, response.text
        assert count_tokens(response.text) <= 3000

    def test_lowest_ranked_decisions_go_first(self, huge):
        product_state(huge, "Small", what_works=["ok"], what_is_blocked=[], open_questions=[])
        for i in range(6):
            decision(huge, f"Small decision {i} about storage", product="Small", reasoning="because " * 100)
        options = {"product": "Small", "query": "storage", "decisions": 20}
        full = export_json(huge, **options, max_tokens=8000)
        ranking = decisions_of(full)
        assert len(ranking) >= 4
        # Room for the kernel, the product and about two and a half decisions.
        budget = (
            full["tokens"]["kernel"] + full["tokens"]["product"] + full["tokens"]["decisions"] * 5 // 2 // len(ranking)
        )
        cut = export_json(huge, **options, max_tokens=budget)
        kept = decisions_of(cut)
        assert 1 <= len(kept) < len(ranking)
        assert kept == ranking[: len(kept)]
        assert cut["sections"][:2] == full["sections"][:2]  # kernel and product untouched

    def test_product_list_items_go_only_after_every_decision(self, huge):
        body = export_json(huge, product="Engine", query="engine storage", decisions=20, max_tokens=4000)
        assert [s["kind"] for s in body["sections"]] == ["kernel", "product"]
        assert count_tokens(body["content"]) <= 4000
        product = body["sections"][1]["content"]
        assert "Status: active" in product and "## Next session starts here" in product
        assert "## Last session summary" in product
        # What is blocked comes first, a prefix of its items (last items go first); then the others.
        assert "works 0:" not in product and "question 0:" not in product
        blocked = [line for line in product.splitlines() if line.startswith("- blocked")]
        assert 1 <= len(blocked) < 100
        assert [int(line.split()[2].rstrip(":")) for line in blocked] == list(range(len(blocked)))

    def test_a_part_that_does_not_fit_ends_the_export(self, huge):
        """The parts after it go too, even one that would fit: at a larger budget, where it fits,
        they would go again, and a larger budget must keep all that a smaller one kept."""
        body = export_json(huge, product="Engine", query="engine storage", decisions=20, max_tokens=2500)
        assert [s["kind"] for s in body["sections"]] == ["kernel", "product"]
        product = body["sections"][1]["content"]
        assert "Status: active" in product and "## Next session starts here" in product
        assert "## Last session summary" not in product  # about 2,000 tokens: far too long for what is left
        assert "- blocked 0:" not in product and "- works 0:" not in product

    def test_a_tiny_budget_shortens_the_kernel_by_whole_lines(self, huge):
        block = huge.get(KERNEL).json()["injection_block"].splitlines()
        body = export_json(huge, product="Engine", max_tokens=100)
        assert body["sections"][0]["kind"] == "kernel" and "decisions" not in [s["kind"] for s in body["sections"]]
        assert count_tokens(body["content"]) <= 100
        kernel = body["sections"][0]["content"].splitlines()
        assert kernel[0] == "## Identity" and block[1].startswith(kernel[1])  # identity sheds whole fields
        assert set(kernel[2:]) <= set(block)


class TestOptions:
    @pytest.mark.parametrize(
        "params,field",
        [
            ({"max_tokens": 99}, "max_tokens"),
            ({"max_tokens": 8001}, "max_tokens"),
            ({"max_tokens": "many"}, "max_tokens"),
            ({"decisions": -1}, "decisions"),
            ({"decisions": 21}, "decisions"),
            ({"decisions": "1.5"}, "decisions"),
            ({"format": "xml"}, "format"),
            ({"format": "MARKDOWN"}, "format"),
            ({"download": "maybe"}, "download"),
            ({"product": "p" * 101}, "product"),
            ({"query": "q" * 20_001}, "query"),
            ({"query": "a", "task": "b"}, "task"),
            ({"limit": 5}, "limit"),
        ],
    )
    def test_bad_query_options(self, write_api, params, field):
        response = write_api.get(URL, params=params)
        assert response.status_code == 400, response.text
        assert field in response.json()["error"]["details"]["fields"]

    @pytest.mark.parametrize(
        "body,field",
        [
            ({"max_tokens": 99}, "max_tokens"),
            ({"max_tokens": 8001}, "max_tokens"),
            ({"max_tokens": "1500"}, "max_tokens"),
            ({"max_tokens": 1500.5}, "max_tokens"),
            ({"decisions": True}, "decisions"),
            ({"decisions": 21}, "decisions"),
            ({"format": ["json"]}, "format"),
            ({"download": "true"}, "download"),
            ({"product": 5}, "product"),
            ({"task": ["a"]}, "task"),
            ({"task": "t" * 20_001}, "task"),
            ({"query": "a", "task": "b"}, "task"),
            ({"tokens": 5}, "tokens"),
        ],
    )
    def test_bad_body_options(self, write_api, body, field):
        response = write_api.post(URL, json=body)
        assert response.status_code == 400, response.text
        assert field in response.json()["error"]["details"]["fields"]

    def test_body_must_be_an_object(self, write_api):
        response = write_api.post(URL, data=b"[]", headers={"Content-Type": "application/json"})
        assert response.status_code == 400 and response.json()["error"]["code"] == "VALIDATION_ERROR"

    @pytest.mark.parametrize(
        "params", [{"max_tokens": 100}, {"max_tokens": 8000}, {"decisions": 0}, {"decisions": 20}, {"query": ""}]
    )
    def test_bounds_are_inclusive(self, filled, params):
        assert filled.get(URL, params=params).status_code == 200
        assert filled.post(URL, json=params).status_code == 200

    def test_unknown_product_is_not_found(self, filled):
        for response in (filled.get(URL, params={"product": "Nope"}), filled.post(URL, json={"product": "Nope"})):
            assert response.status_code == 404
            assert response.json()["error"]["code"] == "NOT_FOUND"

    def test_accept_header_does_not_change_the_format(self, filled):
        response = filled.get(URL, headers={"Accept": "text/markdown"})
        assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/markdown")
        error = filled.get(URL, params={"max_tokens": 1}, headers={"Accept": "text/markdown"})
        assert error.status_code == 400 and error.headers["Content-Type"] == "application/json"


class TestAccess:
    def test_read_key_can_export_with_get_and_post(self, filled, client_for, user):
        reader = client_for(user, "read")
        assert reader.get(URL, params={"product": "Engine"}).status_code == 200
        assert reader.post(URL, json={"product": "Engine"}).status_code == 200

    def test_no_token_is_unauthorized(self, api):
        assert api.get(URL).status_code == 401
        assert api.post(URL, json={}).json()["error"]["code"] == "UNAUTHORIZED"

    def test_users_never_see_each_others_context(self, filled, client_for, make_user):
        other = client_for(make_user())
        assert other.get(URL, params={"product": "Engine"}).status_code == 404
        body = export_json(other, query="stripe postgresql")
        assert body["content"] == "" and body["sections"] == []
        other.put(KERNEL, json={"identity": {"name": "Bob"}})
        mine = filled.get(URL).text
        assert "Bob" not in mine and "Ada" in mine
        assert "Ada" not in other.get(URL).text


class TestPrivacy:
    def test_the_spaces_byok_keys_are_redacted_wherever_they_were_pasted(self, write_api, user):
        secret = fresh_key("openai")
        byok_credential_create(space=space_ensure_personal(user=user), service="openai", label="main", key=secret)
        write_api.put(KERNEL, json={"identity": {"name": "Ada"}, "constraints": {"always": [f"Bill {secret}"]}})
        product_state(
            write_api, what_works=[f"Embeddings run on {secret}"], next_session_starts_here=f"Rotate {secret}"
        )
        decision(write_api, "Use the project key", reasoning=f"The key {secret} bills the right team")
        for fmt in ("markdown", "text"):
            response = write_api.get(URL, params={"product": "Engine", "format": fmt})
            assert secret not in response.text
            assert response.text.count("[REDACTED:api_key]") == 4, response.text
            assert int(response.headers["X-Synchronex-Tokens"]) == count_tokens(response.text)
        body = write_api.post(URL, json={"product": "Engine", "format": "json"}).text
        assert secret not in body and "[REDACTED:api_key]" in body

    def test_in_a_workspace_the_callers_personal_keys_are_redacted_from_their_personal_layer(
        self, make_user, client_for
    ):
        owner = make_user(tier="team")
        api = client_for(owner)
        workspace = api.post("/api/v1/workspaces", json={"name": "Acme", "kind": "team"}).json()
        secret = fresh_key("openai")
        byok_credential_create(space=space_ensure_personal(user=owner), service="openai", label="mine", key=secret)
        api.put(KERNEL, json={"identity": {"name": "Ada"}, "constraints": {"always": [f"Bill {secret}"]}})
        response = api.get(URL, params={"format": "text"}, headers={"X-Synchronex-Scope": workspace["id"]})
        assert response.status_code == 200, response.text
        assert "Bill [REDACTED:api_key]" in response.text and secret not in response.text

    def test_the_identity_reads_injection_block_is_redacted_while_its_fields_stay_verbatim(self, write_api, user):
        secret = fresh_key("openai")
        byok_credential_create(space=space_ensure_personal(user=user), service="openai", label="main", key=secret)
        written = write_api.put(KERNEL, json={"constraints": {"always": [f"Bill {secret}"]}})
        read = write_api.get(KERNEL)
        indented = write_api.get(KERNEL, headers={"Accept": "application/json; indent=2"})
        for body in (written.json(), read.json(), indented.json()):
            assert body["constraints"]["always"] == [f"Bill {secret}"]  # the user's own data, as stored
            block = body["injection_block"]
            assert secret not in block and "- Bill [REDACTED:api_key]" in block
            assert body["injection_tokens"] == count_tokens(block)
        # A GET→PUT round trip stores the key again, never the marker.
        again = write_api.put(KERNEL, json={"constraints": read.json()["constraints"]}, headers={"If-Match": '"1"'})
        assert again.status_code == 200 and again.json()["constraints"]["always"] == [f"Bill {secret}"]

    def test_keys_the_renderers_would_escape_are_redacted_before_rendering(self, write_api, user):
        # A bold product name escapes "*", "`" and "\"; a line starting "12345678. " escapes its
        # dot: redacting the rendered text would no longer find either key.
        space = space_ensure_personal(user=user)
        star, numbered = "Zq*9x`K\\7Lm", "12345678."
        for number, key in enumerate((star, numbered)):
            byok_credential_create(
                space=space,
                service="openai_compatible",
                label=f"lab{number}",
                key=key,
                base_url=f"https://l{number}.dev",
            )
        write_api.put(
            KERNEL,
            json={
                "identity": {"name": "Cee"},
                "constraints": {
                    "never": [f"{numbered} never paste"],
                    "always": [f"Rule {n}: " + "be careful " * 8 for n in range(10)],
                },
                "products": [{"name": star, "status": "active", "summary": "the product"}],
            },
        )
        product_state(write_api, what_works=[f"{numbered} works"], next_session_starts_here=f"Rotate\n{numbered} now")
        decision(write_api, "Use the lab server", reasoning=f"Cheaper\n{numbered} first")
        for fmt in ("markdown", "text", "json"):
            for max_tokens in (1500, 100):  # 100: the kernel alone is re-rendered shorter
                response = write_api.get(URL, params={"product": "Engine", "format": fmt, "max_tokens": max_tokens})
                text = response.json()["content"] if fmt == "json" else response.text
                assert "9x" not in text and "12345678" not in text, text
                # Both keys are shorter than "[REDACTED:api_key]": "[SECRET]" (a text never grows).
                assert "[SECRET] never paste" in text and ("Rule 9" in text) == (max_tokens == 1500)
                assert int(response.headers["X-Synchronex-Tokens"]) == count_tokens(text) <= max_tokens
        markdown = write_api.get(URL, params={"product": "Engine"}).text
        assert "- **[SECRET]** (active): the product" in markdown
        assert markdown.count("[SECRET]") == 5, markdown

    def test_a_redacted_export_still_fits_the_budget(self, write_api, user):
        secret = "local-" + "k" * 8  # shorter, in tokens, than the marker that replaces it
        space = space_ensure_personal(user=user)
        byok_credential_create(
            space=space, service="openai_compatible", label="lab", key=secret, base_url="https://llm.example"
        )
        for number in range(20):
            decision(write_api, f"Decision {number} mentions {secret} {secret} {secret}")
        body = export_json(write_api, max_tokens=100, decisions=20)
        assert secret not in body["content"] and body["tokens"]["total"] <= 100
        assert body["tokens"]["total"] == count_tokens(body["content"])


def test_openapi_documents_the_export(write_api):
    schema = write_api.get("/api/v1/openapi.json").json()
    export = schema["paths"]["/api/v1/kernel/export"]
    names = {p["name"] for p in export["get"]["parameters"]}
    assert {"format", "product", "query", "task", "max_tokens", "decisions", "download"} <= names
    assert {"application/json", "text/markdown", "text/plain"} <= set(export["get"]["responses"]["200"]["content"])
    assert "requestBody" in export["post"]
