"""The admin's "Past N days" on cost events is the API's ``days=N``: the same UTC days, the same total."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.costs.services import cost_event_record
from apps.scopes.services import space_ensure_personal

pytestmark = pytest.mark.django_db


def link(page: str, label: str) -> str:
    match = re.search(rf'<a href="([^"]*)"[^>]*>{label}</a>', page)
    assert match, f"no {label!r} link"
    return html.unescape(match.group(1))


@pytest.mark.parametrize("days", [7, 30])
def test_admin_past_days_totals_the_days_the_api_totals(admin_client, inproc_for, user, days):
    space = space_ensure_personal(user=user)
    today = datetime.combine(timezone.now().astimezone(UTC).date(), time(12), tzinfo=UTC)
    # Noon of the day before the period (outside it), and of its first day (inside).
    for back, amount in ((days, "100"), (days - 1, "1")):
        cost_event_record(
            space=space,
            provider="acme",
            model="x",
            input_tokens=1,
            output_tokens=0,
            cost_usd=amount,
            occurred_at=today - timedelta(days=back),
        )

    api = inproc_for(user, "read").get("/api/v1/ai/costs", {"days": days})
    assert api.status_code == 200, api.content
    assert Decimal(str(api.json()["total_cost_usd"])) == Decimal(1)

    listing = admin_client.get("/admin/costs/costevent/").content.decode()
    filtered = admin_client.get("/admin/costs/costevent/" + link(listing, f"Past {days} days")).content.decode()
    assert "Totals of the 1 matching event:" in filtered and "USD 1.000000" in filtered
