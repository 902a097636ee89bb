"""GET/PUT /api/v1/memory/identity over real HTTP: shapes, replacement, every bound, bad input."""

from __future__ import annotations

import pytest

from synchronex.api.tokens import count_tokens

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/memory/identity"

FULL = {
    "identity": {
        "name": "Ada Lovelace",
        "company": "Analytical Engines",
        "location": "London",
        "timezone": "Europe/London",
        "role": "CTO",
        "industry": "Computing",
    },
    "products": [
        {"name": "Engine", "status": "beta", "summary": "Computes Bernoulli numbers", "url": "https://engine.example"}
    ],
    "constraints": {"always": ["Cite sources"], "never": ["Invent APIs"], "communication_style": "Terse"},
    "model_preferences": {"providers": ["anthropic", "openai"], "default_model": "big", "routing": {"code": "coder"}},
}


def error_fields(response) -> dict:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"]["code"] == "VALIDATION_ERROR"
    return body["error"]["details"]["fields"]


def test_new_space_reads_an_empty_kernel_at_version_zero(write_api):
    response = write_api.get(URL)
    assert response.status_code == 200
    assert response.headers["ETag"] == '"0"'
    assert response.json() == {
        "identity": None,
        "products": None,
        "constraints": None,
        "model_preferences": None,
        "injection_block": "",
        "injection_tokens": 0,
        "truncated": False,
        "version": 0,
        "updated_at": None,
        "scope": "personal",
    }


def test_put_stores_every_section_and_returns_the_effective_kernel(write_api):
    response = write_api.put(URL, json=FULL)
    assert response.status_code == 200, response.text
    body = response.json()
    assert response.headers["ETag"] == '"1"'
    assert body["version"] == 1 and body["scope"] == "personal"
    assert body["identity"] == FULL["identity"]
    assert body["products"] == FULL["products"]
    assert body["constraints"] == FULL["constraints"]
    assert body["model_preferences"] == FULL["model_preferences"]
    assert body["updated_at"].endswith("Z")
    assert body["injection_block"].startswith(
        "## Identity\nAda Lovelace · CTO · Analytical Engines · Computing · London · timezone Europe/London"
    )
    assert body["injection_tokens"] == count_tokens(body["injection_block"])
    assert body["truncated"] is False
    again = write_api.get(URL)
    assert again.json() == body
    assert again.headers["ETag"] == '"1"'


def test_unset_fields_read_as_null_and_strings_are_trimmed(write_api):
    response = write_api.put(URL, json={"identity": {"name": "  Ada  ", "company": "", "role": None}})
    body = response.json()
    assert body["identity"] == {
        "name": "Ada",
        "company": None,
        "location": None,
        "timezone": None,
        "role": None,
        "industry": None,
    }
    assert body["constraints"] is None


def test_present_section_replaces_it_and_absent_sections_stay(write_api):
    write_api.put(URL, json=FULL)
    response = write_api.put(URL, json={"constraints": {"never": ["Deploy on Fridays"]}})
    body = response.json()
    assert body["constraints"] == {"always": None, "never": ["Deploy on Fridays"], "communication_style": None}
    assert body["identity"] == FULL["identity"] and body["products"] == FULL["products"]
    assert "Cite sources" not in body["injection_block"]
    assert "- Deploy on Fridays" in body["injection_block"]


def test_null_clears_a_section(write_api):
    write_api.put(URL, json=FULL)
    body = write_api.put(URL, json={"products": None, "identity": None}).json()
    assert body["products"] is None and body["identity"] is None
    assert body["constraints"] == FULL["constraints"]
    assert "## Products" not in body["injection_block"] and "## Identity" not in body["injection_block"]
    assert body["version"] == 2


def test_section_with_nothing_set_reads_as_null(write_api):
    body = write_api.put(URL, json={"identity": {"name": ""}, "products": [], "constraints": {"always": []}}).json()
    assert body["identity"] is None and body["products"] is None and body["constraints"] is None
    assert body["injection_block"] == "" and body["version"] == 1


def test_duplicate_constraints_are_kept_once(write_api):
    body = write_api.put(URL, json={"constraints": {"always": ["a", "b", "a"]}}).json()
    assert body["constraints"]["always"] == ["a", "b"]


def test_empty_body_is_a_validation_error(write_api):
    assert "non_field_errors" in error_fields(write_api.put(URL, json={}))
    assert "non_field_errors" in error_fields(
        write_api.put(URL, data=b"", headers={"Content-Type": "application/json"})
    )
    assert write_api.get(URL).json()["version"] == 0


@pytest.mark.parametrize(
    "body",
    [
        {"identity": {"name": "x" * 200, "company": "x" * 200}},
        {"identity": {"timezone": "America/Argentina/Buenos_Aires"}},
        {"identity": {"timezone": "UTC"}},
        {"products": [{"name": f"Product {i}"} for i in range(10)]},
        {
            "products": [
                {"name": "n" * 100, "status": "s" * 50, "summary": "s" * 500, "url": "http://a.example/" + "p" * 1900}
            ]
        },
        {"constraints": {"always": ["a" * 300] * 1 + [f"rule {i}" for i in range(49)], "never": ["n" * 300]}},
        {"constraints": {"communication_style": "c" * 300}},
        {"model_preferences": {"providers": [f"p{i}" for i in range(20)], "default_model": "m" * 100}},
        {"model_preferences": {"routing": {f"task {i}": "m" * 100 for i in range(20)}}},
        {"model_preferences": {"routing": {"t" * 100: "m"}}},
    ],
)
def test_values_at_the_limits_are_accepted(write_api, body):
    response = write_api.put(URL, json=body)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "body,field",
    [
        ({"identity": {"name": "x" * 201}}, "identity.name"),
        ({"identity": {"company": "x" * 201}}, "identity.company"),
        ({"identity": {"location": "x" * 201}}, "identity.location"),
        ({"identity": {"role": "x" * 201}}, "identity.role"),
        ({"identity": {"industry": "x" * 201}}, "identity.industry"),
        ({"identity": {"timezone": "Mars/Olympus_Mons"}}, "identity.timezone"),
        ({"identity": {"timezone": "europe/london"}}, "identity.timezone"),
        ({"identity": {"timezone": "../../etc/passwd"}}, "identity.timezone"),
        ({"products": [{"name": f"P{i}"} for i in range(11)]}, "products"),
        ({"products": [{"status": "live"}]}, "products[0].name"),
        ({"products": [{"name": "  "}]}, "products[0].name"),
        ({"products": [{"name": "Engine"}, {"name": "ENGINE"}]}, "products[1].name"),
        ({"products": [{"name": "n" * 101}]}, "products[0].name"),
        ({"products": [{"name": "a", "status": "s" * 51}]}, "products[0].status"),
        ({"products": [{"name": "a", "summary": "s" * 501}]}, "products[0].summary"),
        ({"products": [{"name": "a", "url": "ftp://files.example"}]}, "products[0].url"),
        ({"products": [{"name": "a", "url": "javascript:alert(1)"}]}, "products[0].url"),
        ({"products": [{"name": "a", "url": "not a url"}]}, "products[0].url"),
        ({"products": [{"name": "a", "url": "https://a.example/" + "p" * 2000}]}, "products[0].url"),
        ({"constraints": {"always": [f"r{i}" for i in range(51)]}}, "constraints.always"),
        ({"constraints": {"never": [f"r{i}" for i in range(51)]}}, "constraints.never"),
        ({"constraints": {"always": ["ok", "x" * 301]}}, "constraints.always[1]"),
        ({"constraints": {"never": ["x" * 301]}}, "constraints.never[0]"),
        ({"constraints": {"never": [""]}}, "constraints.never[0]"),
        ({"constraints": {"communication_style": "x" * 301}}, "constraints.communication_style"),
        ({"model_preferences": {"providers": [f"p{i}" for i in range(21)]}}, "model_preferences.providers"),
        ({"model_preferences": {"providers": ["p" * 101]}}, "model_preferences.providers[0]"),
        ({"model_preferences": {"default_model": "m" * 101}}, "model_preferences.default_model"),
        ({"model_preferences": {"routing": {f"t{i}": "m" for i in range(21)}}}, "model_preferences.routing"),
        ({"model_preferences": {"routing": {"t" * 101: "m"}}}, "model_preferences.routing"),
        ({"model_preferences": {"routing": {"  ": "m"}}}, "model_preferences.routing"),
        ({"model_preferences": {"routing": {"code": "m" * 101}}}, "model_preferences.routing.code"),
        ({"model_preferences": {"routing": {"code": ""}}}, "model_preferences.routing.code"),
    ],
)
def test_each_limit_is_a_validation_error_naming_the_field(write_api, body, field):
    fields = error_fields(write_api.put(URL, json=body))
    assert field in fields, fields
    assert write_api.get(URL).json()["version"] == 0


@pytest.mark.parametrize(
    "body,field",
    [
        ({"identity": {"name": "A"}, "mood": "happy"}, "mood"),
        ({"identity": {"name": "A", "age": 3}}, "identity.age"),
        ({"constraints": {"foo": []}}, "constraints.foo"),
        ({"products": [{"name": "a", "price": 3}]}, "products[0].price"),
        ({"model_preferences": {"temperature": 0.2}}, "model_preferences.temperature"),
    ],
)
def test_unknown_fields_at_any_level_are_named(write_api, body, field):
    fields = error_fields(write_api.put(URL, json=body))
    assert fields[field] == ["Unknown field."]


@pytest.mark.parametrize(
    "body,field",
    [
        ({"identity": "Ada"}, "identity"),
        ({"identity": ["Ada"]}, "identity"),
        ({"identity": {"name": 5}}, "identity.name"),
        ({"identity": {"name": True}}, "identity.name"),
        ({"identity": {"name": {"first": "Ada"}}}, "identity.name"),
        ({"identity": {"name": "nul\u0000byte"}}, "identity.name"),
        ({"products": {"name": "a"}}, "products"),
        ({"products": "Engine"}, "products"),
        ({"products": ["Engine"]}, "products[0]"),
        ({"constraints": {"always": "be nice"}}, "constraints.always"),
        ({"constraints": {"always": [1]}}, "constraints.always[0]"),
        ({"constraints": {"communication_style": ["terse"]}}, "constraints.communication_style"),
        ({"model_preferences": {"routing": ["code"]}}, "model_preferences.routing"),
        ({"model_preferences": {"routing": {"code": 1}}}, "model_preferences.routing.code"),
        ({"model_preferences": {"providers": "openai"}}, "model_preferences.providers"),
        ({"model_preferences": 3}, "model_preferences"),
    ],
)
def test_wrong_types_are_validation_errors(write_api, body, field):
    fields = error_fields(write_api.put(URL, json=body))
    assert field in fields, fields


@pytest.mark.parametrize(
    "body,field",
    [
        ({"products": [None]}, "products[0]"),
        ({"products": [{"name": "A"}, None]}, "products[1]"),
        ({"constraints": {"always": ["a", None]}}, "constraints.always[1]"),
        ({"model_preferences": {"providers": [None]}}, "model_preferences.providers[0]"),
        ({"model_preferences": {"routing": {"code": None}}}, "model_preferences.routing.code"),
    ],
)
def test_a_null_list_item_is_a_validation_error_naming_it(write_api, body, field):
    """A whole section may be null (cleared); an item of one may not."""
    fields = error_fields(write_api.put(URL, json=body))
    assert fields == {field: ["This field may not be null."]}, fields
    assert write_api.get(URL).json()["version"] == 0


@pytest.mark.parametrize("raw", [b"[]", b'"identity"', b"null", b"42"])
def test_body_that_is_not_an_object_is_rejected(write_api, raw):
    response = write_api.put(URL, data=raw, headers={"Content-Type": "application/json"})
    assert "non_field_errors" in error_fields(response)


def test_malformed_json_is_a_validation_error(write_api):
    response = write_api.put(URL, data=b'{"identity": ', headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_multibyte_text_round_trips_and_fits_the_block(write_api):
    cjk_name = "山田" * 100  # 200 characters: the limit counts characters, not bytes
    body = {
        "identity": {"name": cjk_name, "company": "株式会社 🚀 ロケット"},
        "constraints": {"never": ["絵文字を使わない 🙅" * 10], "always": ["👍" * 300]},
        "products": [{"name": "プロダクト✨", "summary": "説明" * 250}],
    }
    response = write_api.put(URL, json=body)
    assert response.status_code == 200, response.text
    got = response.json()
    assert got["identity"]["name"] == cjk_name and got["identity"]["company"] == "株式会社 🚀 ロケット"
    assert got["constraints"]["always"] == ["👍" * 300]
    assert got["injection_tokens"] == count_tokens(got["injection_block"]) <= 500
    assert got["injection_block"].startswith(f"## Identity\n{cjk_name} · 株式会社 🚀 ロケット")
    assert error_fields(write_api.put(URL, json={"identity": {"name": "山" * 201}})) == {
        "identity.name": ["Ensure this field has no more than 200 characters."]
    }


def test_a_kernel_far_over_500_tokens_is_truncated_keeping_higher_priority_lines(write_api):
    body = {
        "identity": {field: f"{field} " + "word " * 38 for field in ("name", "company", "role")},
        "constraints": {
            "never": [f"never {i}: " + "careful " * 35 for i in range(50)],
            "always": [f"always {i}: " + "please " * 35 for i in range(50)],
            "communication_style": "style " * 50,
        },
        "products": [{"name": f"P{i}", "summary": "summary " * 60, "url": f"https://p{i}.example"} for i in range(10)],
        "model_preferences": {"providers": [f"provider-{i}" for i in range(20)], "default_model": "m"},
    }
    response = write_api.put(URL, json=body)
    got = response.json()
    block = got["injection_block"]
    assert got["truncated"] is True
    assert count_tokens(block) == got["injection_tokens"] <= 500
    assert block.startswith("## Identity\nname word")
    assert "## Never\n- never 0: careful" in block
    assert "## Always" not in block and "## Products" not in block and "## Model preferences" not in block
    for line in block.splitlines():
        if line.startswith("- never"):
            number = int(line.split()[2].rstrip(":"))
            assert line == f"- never {number}: " + ("careful " * 35).strip()


def test_block_is_the_same_for_the_same_kernel(write_api, client_for, make_user):
    first = write_api.put(URL, json=FULL).json()
    other = client_for(make_user())
    second = other.put(URL, json=FULL).json()
    assert first["injection_block"] == second["injection_block"]
    assert first["injection_tokens"] == second["injection_tokens"]
    rewritten = write_api.put(URL, json=FULL).json()
    assert rewritten["injection_block"] == first["injection_block"] and rewritten["version"] == 2


def test_read_key_can_get_but_not_put(client_for, user):
    reader = client_for(user, "read")
    assert reader.get(URL).status_code == 200
    response = reader.put(URL, json=FULL)
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "FORBIDDEN" and error["details"]["required_scopes"] == ["memory:write"]
    assert reader.get(URL).json()["version"] == 0


def test_requests_without_a_token_are_unauthorized(api):
    assert api.get(URL).status_code == 401
    assert api.put(URL, json=FULL).json()["error"]["code"] == "UNAUTHORIZED"


def test_other_methods_are_not_allowed(write_api):
    response = write_api.post(URL, json=FULL)
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "METHOD_NOT_ALLOWED"


def test_users_never_see_each_others_kernel(client_for, make_user):
    alice, bob = make_user(), make_user()
    alice_api, bob_api = client_for(alice), client_for(bob)
    alice_api.put(URL, json=FULL)
    bob_view = bob_api.get(URL).json()
    assert bob_view["version"] == 0 and bob_view["identity"] is None and bob_view["injection_block"] == ""
    bob_api.put(URL, json={"identity": {"name": "Bob"}}, headers={"If-Match": '"0"'})
    assert alice_api.get(URL).json()["identity"]["name"] == "Ada Lovelace"
    assert bob_api.get(URL).json()["identity"]["name"] == "Bob"


def test_openapi_documents_the_kernel_routes(write_api):
    schema = write_api.get("/api/v1/openapi.json").json()
    kernel = schema["paths"]["/api/v1/memory/identity"]
    assert {"get", "put"} <= set(kernel)
    assert "version: 0" in kernel["get"]["description"]
    assert any(p["name"] == "If-Match" for p in kernel["put"]["parameters"])
    assert "get" in schema["paths"]["/api/v1/memory/identity/history"]
