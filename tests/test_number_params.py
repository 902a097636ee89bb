"""Number query parameters take ASCII digits only. ``int()`` and ``float()`` also read ``1_0`` as
10, ``٣`` (Arabic-Indic) or ``１`` (fullwidth) as digits, ``+5`` and Unicode spaces around a
number: a typo such as ``limit=1_00`` quietly became 100. Each of those is now refused with the
message the route gives any non-number; ASCII whitespace around the digits is trimmed, as every
query value is."""

from __future__ import annotations

import pytest

from apps.memory.embeddings import retry_after_seconds
from apps.products.services import product_ensure
from apps.scopes.services import space_ensure_personal

pytestmark = pytest.mark.django_db(transaction=True)

PAGED = {
    "/api/v1/memory/products": {},
    "/api/v1/sessions": {},
    "/api/v1/memory/identity/history": {},
    "/api/v1/workspaces": {},
    "/api/v1/byok": {},
    "/api/v1/memory/decisions/search": {"q": "redis"},
    "/api/v1/memory/search": {"q": "redis"},
}
# (path, the query it needs to answer at all, the number parameter, a valid value in ASCII digits)
CASES = [
    *((path, base, name, "10") for path, base in PAGED.items() for name in ("limit", "offset")),
    ("/api/v1/memory/decisions/search", {"q": "redis"}, "token_budget", "10"),
    ("/api/v1/memory/decisions/search", {"q": "redis"}, "half_life_days", "10"),
    ("/api/v1/ai/costs", {}, "days", "10"),
    ("/api/v1/ai/costs/Atlas", {}, "days", "10"),
    ("/api/v1/kernel/export", {"format": "json"}, "max_tokens", "200"),
    ("/api/v1/kernel/export", {"format": "json"}, "decisions", "10"),
]
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def other_spellings(digits: str) -> list[str]:
    """``digits`` as Python's int()/float() would also read it, none of them a number here."""
    return [
        f"{digits[0]}_{digits[1:]}",
        digits.translate(ARABIC_INDIC),
        digits.translate(FULLWIDTH),
        f"+{digits}",
        f"\u00a0{digits}",
        f"{digits}\u3000",
    ]


@pytest.fixture
def top_api(client_for, make_user):
    """A write key of the highest plan (no route refuses it for its plan or scope first), with a
    product ``Atlas`` for the per-product cost route."""
    user = make_user(tier="enterprise")
    product_ensure(space=space_ensure_personal(user=user), name="Atlas")
    return client_for(user, "write")


def fields_of(response) -> dict:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR", error
    return error["details"]["fields"]


@pytest.mark.parametrize(("path", "base", "name", "digits"), CASES, ids=[f"{c[0]}?{c[2]}" for c in CASES])
def test_a_number_parameter_takes_ascii_digits_only(top_api, path, base, name, digits):
    for accepted in (digits, f" {digits} "):
        response = top_api.get(path, params={**base, name: accepted})
        assert response.status_code == 200, (accepted, response.text)
    not_a_number = fields_of(top_api.get(path, params={**base, name: "abc"}))
    assert list(not_a_number) == [name]
    for spelling in other_spellings(digits):
        assert fields_of(top_api.get(path, params={**base, name: spelling})) == not_a_number, spelling


def test_the_paged_body_echoes_the_ascii_value(top_api):
    body = top_api.get("/api/v1/memory/search", params={"q": "redis", "limit": " 7 ", "offset": "03"}).json()
    assert (body["limit"], body["offset"]) == (7, 3)


@pytest.mark.parametrize("spelling", [".5", "5.", "1_000", "1e1_0", "Infinity", "0x10", "1.5\u00a0"])
def test_half_life_days_is_a_json_number(top_api, spelling):
    # The JSON number grammar, as exact_decimal reads money: no ".5" or "5." (float() takes both).
    response = top_api.get("/api/v1/memory/decisions/search", params={"q": "redis", "half_life_days": spelling})
    assert list(fields_of(response)) == ["half_life_days"]
    for number in ("0.5", "1e1", "2E+1", "36500"):
        response = top_api.get("/api/v1/memory/decisions/search", params={"q": "redis", "half_life_days": number})
        assert response.status_code == 200, (number, response.text)


def test_the_helpers_read_ascii_only():
    from synchronex.api.parsers import ascii_integer, ascii_number

    assert [ascii_integer(s) for s in ("0", "-3", " 42\t", "007")] == [0, -3, 42, 7]
    bad = ("", " ", "1_0", "٣", "１", "+5", "\u00a05", "5\u2003", "1.0", "0x10", "-", "9" * 5000)
    assert [ascii_integer(s) for s in bad] == [None] * len(bad)
    assert [ascii_number(s) for s in ("0.5", "-1e3", " 7 ", "1E-2")] == [0.5, -1000.0, 7.0, 0.01]
    assert [ascii_number(s) for s in (".5", "5.", "1_0", "٣", "+5", "nan", "Infinity", "")] == [None] * 8


def test_a_retry_after_header_is_read_in_ascii_digits():
    # str.isdigit() also holds for "²" (float() then raised) and "١٢" (read as 12 seconds).
    assert retry_after_seconds(" 12 ") == 12
    assert [retry_after_seconds(v) for v in ("١٢", "²", "1_0", "+5", "１")] == [None] * 5


def test_a_content_length_header_is_ascii_digits(client):
    # gunicorn refuses these itself; any other server hands them on, and int() read "1_0" as 10.
    for length in ("1_0", "+10", "-1"):
        response = client.post(
            "/api/v1/memory/decisions", data=b"{}" * 5, content_type="application/json", CONTENT_LENGTH=length
        )
        assert response.status_code == 400, length
        assert response.json()["error"]["message"] == "The Content-Length header is not a number.", length
