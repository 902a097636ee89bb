"""Shared helpers of the decision tests."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from apps.decisions.models import Decision

DECISIONS = "/api/v1/memory/decisions"
SEARCH = "/api/v1/memory/decisions/search"


def record(client, decision: str, product: str = "Atlas", **fields) -> dict:
    response = client.post(DECISIONS, json={"decision": decision, "product_name": product, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def days_ago(days: float) -> str:
    return (timezone.now() - timedelta(days=days)).isoformat()


def search(client, **params):
    response = client.get(SEARCH, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def texts(body: dict) -> list[str]:
    return [hit["decision"] for hit in body["results"]]


def make(product, text: str, **fields) -> Decision:
    """A decision of ``product`` written through the ORM (no API, no service)."""
    return Decision.objects.create(space=product.space, product=product, decision=text, **fields)
