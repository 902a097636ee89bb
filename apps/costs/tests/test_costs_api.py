"""GET /api/v1/ai/costs and /api/v1/ai/costs/{product} over real HTTP, against hand-computed totals."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from urllib.parse import quote

import pytest
from django.utils import timezone

from apps.costs.services import cost_event_record
from apps.products.services import product_ensure
from apps.scopes.services import space_ensure_personal

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/ai/costs"


def midnight_today() -> datetime:
    return datetime.combine(timezone.now().astimezone(UTC).date(), time.min, tzinfo=UTC)


def day(k: int) -> datetime:
    """A moment k days ago: midnight for today (never in the future), noon for earlier days."""
    return midnight_today() - timedelta(days=k) + (timedelta(hours=12) if k else timedelta())


def figures(cost: str, input_tokens: int, output_tokens: int, requests: int, unpriced: int) -> dict:
    return {
        "cost_usd": Decimal(cost),
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "requests": requests,
        "unpriced_requests": unpriced,
    }


def summary(client, path: str = URL, **params) -> dict:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    # Exact decimals: parse JSON numbers with a fraction as Decimal, never as float.
    return json.loads(response.text, parse_float=Decimal)


def error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert body["code"] == code, body
    return body


@pytest.fixture
def seeded(user, make_user):
    """Events over several days, two products and none, three providers, priced and unpriced.

    Prices computed by hand from the list prices (per million tokens, input / output):
    gpt-4o $2.50 / $10, claude-sonnet-4-5 $3 / $15, gpt-4o-mini $0.15 / $0.60,
    text-embedding-3-small $0.02 input.
    """
    space = space_ensure_personal(user=user)
    alpha = product_ensure(space=space, name="Alpha")
    beta = product_ensure(space=space, name="Beta")

    def add(k, product, provider, model, operation, tokens_in, tokens_out, cost=None):
        cost_event_record(
            space=space,
            product=product,
            provider=provider,
            model=model,
            operation=operation,
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            cost_usd=cost,
            occurred_at=day(k),
        )

    add(0, alpha, "openai", "gpt-4o", "chat", 1000, 500)  # 0.0075
    add(0, alpha, "anthropic", "claude-sonnet-4-5", "chat", 1000, 500)  # 0.003 + 0.0075 = 0.0105
    add(1, beta, "openai", "gpt-4o-mini", "summarise", 1000, 500)  # 0.00015 + 0.0003 = 0.00045
    add(1, beta, "mystery-ai", "model-x", "chat", 200, 100)  # unpriced
    add(2, None, "openai", "text-embedding-3-small", "embedding", 100_000, 0)  # 0.002
    add(2, alpha, "openai", "gpt-4o", "chat", 10, 10, cost="1.234567")  # given
    add(5, alpha, "openai", "unknown-model-zzz", None, 300, 0)  # unpriced
    add(40, alpha, "openai", "gpt-4o", "chat", 0, 0, cost="100")  # only in longer periods
    add(400, alpha, "openai", "gpt-4o", "chat", 0, 0, cost="1000")  # outside every period

    other = space_ensure_personal(user=make_user(tier="pro"))
    cost_event_record(
        space=other,
        product=product_ensure(space=other, name="Alpha"),
        provider="openai",
        model="gpt-4o",
        input_tokens=5,
        output_tokens=5,
        cost_usd="50",
        occurred_at=day(0),
    )
    return {"alpha": alpha, "beta": beta}


def test_summary_matches_hand_computed_totals(read_api, seeded):
    body = summary(read_api)
    alpha, beta = seeded["alpha"], seeded["beta"]

    assert body["scope"] == "personal" and body["currency"] == "USD"
    assert body["period"]["days"] == 30
    assert body["period"]["from"] == (midnight_today() - timedelta(days=29)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert body["period"]["to"].endswith("Z")
    assert {k: body[k] for k in ("input_tokens", "output_tokens", "requests", "unpriced_requests")} == {
        "input_tokens": 103_510,
        "output_tokens": 1_610,
        "requests": 7,
        "unpriced_requests": 2,
    }
    assert body["total_cost_usd"] == Decimal("1.255017")
    assert body["by_product"] == [
        {"product": "Alpha", "product_id": str(alpha.id), **figures("1.252567", 2310, 1010, 4, 1)},
        {"product": None, "product_id": None, **figures("0.002", 100_000, 0, 1, 0)},
        {"product": "Beta", "product_id": str(beta.id), **figures("0.00045", 1200, 600, 2, 1)},
    ]
    assert body["by_provider"] == [
        {"provider": "openai", **figures("1.244517", 102_310, 1010, 5, 1)},
        {"provider": "anthropic", **figures("0.0105", 1000, 500, 1, 0)},
        {"provider": "mystery-ai", **figures("0", 200, 100, 1, 1)},
    ]
    assert body["by_model"] == [
        {"provider": "openai", "model": "gpt-4o", **figures("1.242067", 1010, 510, 2, 0)},
        {"provider": "anthropic", "model": "claude-sonnet-4-5", **figures("0.0105", 1000, 500, 1, 0)},
        {"provider": "openai", "model": "text-embedding-3-small", **figures("0.002", 100_000, 0, 1, 0)},
        {"provider": "openai", "model": "gpt-4o-mini", **figures("0.00045", 1000, 500, 1, 0)},
        {"provider": "mystery-ai", "model": "model-x", **figures("0", 200, 100, 1, 1)},
        {"provider": "openai", "model": "unknown-model-zzz", **figures("0", 300, 0, 1, 1)},
    ]
    assert "by_operation" not in body

    daily = body["daily"]
    assert len(daily) == 30
    today = midnight_today().date()
    assert [entry["date"] for entry in daily] == [str(today - timedelta(days=29 - n)) for n in range(30)]
    by_date = {entry.pop("date"): entry for entry in daily}
    assert by_date[str(today)] == figures("0.018", 2000, 1000, 2, 0)
    assert by_date[str(today - timedelta(days=1))] == figures("0.00045", 1200, 600, 2, 1)
    assert by_date[str(today - timedelta(days=2))] == figures("1.236567", 100_010, 10, 2, 0)
    assert by_date[str(today - timedelta(days=5))] == figures("0", 300, 0, 1, 1)
    quiet = [d for d in by_date if d not in {str(today - timedelta(days=k)) for k in (0, 1, 2, 5)}]
    assert len(quiet) == 26 and all(by_date[d] == figures("0", 0, 0, 0, 0) for d in quiet)
    # The breakdowns add up to the totals.
    for breakdown in ("by_product", "by_provider", "by_model"):
        assert sum(row["cost_usd"] for row in body[breakdown]) == body["total_cost_usd"]
        assert sum(row["requests"] for row in body[breakdown]) == body["requests"]


def test_money_is_rendered_as_exact_json_numbers(read_api, user):
    space = space_ensure_personal(user=user)
    for model, cost in (("tiny", "0.000001"), ("big", "12345678.123456"), ("tenth", "0.1")):
        cost_event_record(
            space=space, provider="x", model=model, input_tokens=0, output_tokens=0, cost_usd=cost, occurred_at=day(0)
        )
    text = read_api.get(URL).text
    # A float would print 1e-06 and lose the last digits of the total.
    assert '"total_cost_usd":12345678.223457,' in text
    assert '"model":"tiny","cost_usd":0.000001,' in text.replace('"provider":"x",', "")
    assert '"model":"tenth","cost_usd":0.1,' in text.replace('"provider":"x",', "")
    assert "e-" not in text.lower() and '"cost_usd":"' not in text
    body = json.loads(text, parse_float=Decimal)
    assert body["total_cost_usd"] == Decimal("12345678.223457")


def test_an_empty_space_answers_zeros(read_api):
    body = summary(read_api, days="3")
    assert body["total_cost_usd"] == 0 and body["requests"] == 0 and body["unpriced_requests"] == 0
    assert body["by_product"] == body["by_provider"] == body["by_model"] == []
    assert [entry["requests"] for entry in body["daily"]] == [0, 0, 0]


def test_days_selects_the_period(read_api, seeded):
    assert summary(read_api, days=1)["total_cost_usd"] == Decimal("0.018")
    assert summary(read_api, days=2)["total_cost_usd"] == Decimal("0.01845")
    assert summary(read_api, days=60)["total_cost_usd"] == Decimal("101.255017")
    body = summary(read_api, days=365)
    assert body["total_cost_usd"] == Decimal("101.255017") and len(body["daily"]) == 365
    assert summary(read_api, days=" 7 ")["period"]["days"] == 7


def test_the_period_starts_at_midnight_utc(read_api, user):
    space = space_ensure_personal(user=user)
    start = midnight_today() - timedelta(days=2)
    for at, cost in ((start, "1"), (start - timedelta(microseconds=1), "2")):
        cost_event_record(
            space=space, provider="x", model="y", input_tokens=0, output_tokens=0, cost_usd=cost, occurred_at=at
        )
    assert summary(read_api, days=3)["total_cost_usd"] == 1
    assert summary(read_api, days=4)["total_cost_usd"] == 3


@pytest.mark.parametrize("bad", ["0", "366", "-1", "abc", "1.5", "", "1e2", "+5", "30x", "99999"])
def test_bad_days_are_validation_errors(read_api, bad):
    body = error(read_api.get(URL, params={"days": bad}), 400, "VALIDATION_ERROR")
    assert body["details"]["fields"] == {"days": ["days must be an integer between 1 and 365."]}
    error(read_api.get(f"{URL}/Alpha", params={"days": bad}), 400, "VALIDATION_ERROR")


def test_the_product_route_is_filtered_and_adds_operations(read_api, seeded):
    alpha = seeded["alpha"]
    body = summary(read_api, f"{URL}/alpha")  # names are case-insensitive
    assert body["product"] == {"id": str(alpha.id), "name": "Alpha"}
    assert body["total_cost_usd"] == Decimal("1.252567")
    assert (body["input_tokens"], body["output_tokens"], body["requests"], body["unpriced_requests"]) == (
        2310,
        1010,
        4,
        1,
    )
    assert body["by_product"] == [
        {"product": "Alpha", "product_id": str(alpha.id), **figures("1.252567", 2310, 1010, 4, 1)}
    ]
    assert body["by_provider"] == [
        {"provider": "openai", **figures("1.242067", 1310, 510, 3, 1)},
        {"provider": "anthropic", **figures("0.0105", 1000, 500, 1, 0)},
    ]
    assert body["by_operation"] == [
        {"operation": "chat", **figures("1.252567", 2010, 1010, 3, 0)},
        {"operation": None, **figures("0", 300, 0, 1, 1)},
    ]
    assert sum(entry["requests"] for entry in body["daily"]) == 4
    assert summary(read_api, f"{URL}/Alpha", days=60)["total_cost_usd"] == Decimal("101.252567")


def test_the_product_route_finds_names_with_spaces_and_slashes(read_api, user):
    space = space_ensure_personal(user=user)
    product = product_ensure(space=space, name="Web / App 2")
    cost_event_record(
        space=space, product=product, provider="x", model="y", input_tokens=1, output_tokens=2, cost_usd="0.25"
    )
    body = summary(read_api, f"{URL}/{quote('Web / App 2', safe='')}")
    assert body["product"]["name"] == "Web / App 2" and body["total_cost_usd"] == Decimal("0.25")


def test_an_unknown_product_is_not_found(read_api, seeded, client_for, make_user):
    error(read_api.get(f"{URL}/Nope"), 404, "NOT_FOUND")
    # A name no product can have is refused as on the state route (apps/products/tests/test_product_parameters.py).
    error(read_api.get(f"{URL}/{'x' * 101}"), 400, "VALIDATION_ERROR")
    # Another user's product of the same name is theirs alone.
    stranger = client_for(make_user(tier="pro"), "read")
    error(stranger.get(f"{URL}/Beta"), 404, "NOT_FOUND")


def test_other_users_events_are_invisible(client_for, make_user, seeded):
    stranger = client_for(make_user(tier="pro"), "read")
    body = summary(stranger)
    assert body["requests"] == 0 and body["total_cost_usd"] == 0


def test_free_users_get_tier_required_on_both_routes(client_for, make_user, seeded):
    free = client_for(make_user(tier="free"))
    for path in (URL, f"{URL}/Alpha"):
        body = error(free.get(path), 403, "TIER_REQUIRED")
        assert body["details"] == {"required_tier": "pro", "current_tier": "free"}


def test_write_keys_read_costs_and_other_methods_are_refused(write_api, seeded):
    assert write_api.get(URL).status_code == 200
    error(write_api.post(URL, json={}), 405, "METHOD_NOT_ALLOWED")
    error(write_api.delete(f"{URL}/Alpha"), 405, "METHOD_NOT_ALLOWED")


def test_unauthenticated_requests_are_refused(api):
    error(api.get(URL), 401, "UNAUTHORIZED")


def test_openapi_declares_the_days_bounds_and_the_currency(api):
    schema = api.get("/api/v1/openapi.json").json()
    for path in ("/api/v1/ai/costs", "/api/v1/ai/costs/{product}"):
        days = next(p for p in schema["paths"][path]["get"]["parameters"] if p["name"] == "days")
        assert days["schema"] == {"type": "integer", "minimum": 1, "maximum": 365, "default": 30}
    for name in ("CostSummary", "ProductCostSummary"):
        assert "currency" in schema["components"]["schemas"][name]["required"]
