"""The kernel export says when ``max_tokens`` cut it: ``truncated`` in JSON and the
``X-Synchronex-Truncated`` header in every format (an export without open questions must not read
as a product without any)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/kernel/export"
FORMATS = ("markdown", "text", "json")


@pytest.fixture
def launch(write_api):
    """The probe's product: 12 blocked items, one item that works, one open question, a handoff."""
    written = write_api.post(
        "/api/v1/memory/product/Launch/state",
        json={
            "status": "blocked",
            "what_is_blocked": [f"Blocked item {i}: waiting on the payment provider review" for i in range(12)],
            "what_works": ["Signup works"],
            "open_questions": ["Do we need GDPR consent for analytics?"],
            "next_session_starts_here": "Fix the payment flow.",
        },
    )
    assert written.status_code == 201, written.text
    created = write_api.post("/api/v1/memory/decisions", json={"decision": "Use Stripe", "product_name": "Launch"})
    assert created.status_code == 201, created.text
    return write_api


def content_of(response, fmt: str) -> str:
    return response.json()["content"] if fmt == "json" else response.text


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_tight_budget_says_the_export_was_cut(launch, fmt):
    for response in (
        launch.post(URL, json={"product": "Launch", "max_tokens": 100, "format": fmt}),
        launch.get(URL, params={"product": "Launch", "max_tokens": "100", "format": fmt}),
    ):
        assert response.status_code == 200, response.text
        content = content_of(response, fmt)
        assert "Fix the payment flow." in content  # kept: the handoff goes after the lists
        assert "GDPR" not in content and "Use Stripe" not in content  # dropped, headings and all
        assert response.headers["X-Synchronex-Truncated"] == "true"
        if fmt == "json":
            assert response.json()["truncated"] is True


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_loose_budget_says_nothing_was_cut(launch, fmt):
    for response in (
        launch.post(URL, json={"product": "Launch", "max_tokens": 8000, "format": fmt}),
        launch.get(URL, params={"product": "Launch", "format": fmt}),
    ):
        assert response.status_code == 200, response.text
        content = content_of(response, fmt)
        assert "GDPR" in content and "Use Stripe" in content
        assert response.headers["X-Synchronex-Truncated"] == "false"
        if fmt == "json":
            assert response.json()["truncated"] is False


def test_a_kernel_shortened_to_fit_is_a_cut_too(write_api):
    never = [f"Never do thing number {i} without asking the owner first" for i in range(40)]
    assert write_api.put("/api/v1/memory/identity", json={"constraints": {"never": never}}).status_code == 200
    response = write_api.post(URL, json={"max_tokens": 100, "format": "json"})
    assert response.status_code == 200 and response.json()["tokens"]["total"] <= 100
    assert response.json()["truncated"] is True and response.headers["X-Synchronex-Truncated"] == "true"


def test_an_empty_export_is_not_cut(read_api):
    response = read_api.get(URL, params={"format": "json", "max_tokens": "100"})
    assert response.json()["truncated"] is False and response.headers["X-Synchronex-Truncated"] == "false"
