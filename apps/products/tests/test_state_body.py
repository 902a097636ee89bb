"""product_state_body is ProductStateSerializer's output, built without running the serializer."""

from __future__ import annotations

import json
from datetime import UTC

from hypothesis import given, settings
from hypothesis import strategies as st

from apps.decisions.models import Decision
from apps.products.api.serializers import ProductStateSerializer, product_state_body
from apps.products.models import ProductState

_TEXT = st.text(max_size=12)
_ITEMS = st.lists(st.text(min_size=1, max_size=8), max_size=3)
_MOMENT = st.datetimes(timezones=st.sampled_from([UTC]))


@st.composite
def products(draw):
    return ProductState(
        name=draw(st.text(min_size=1, max_size=20)),
        status=draw(st.sampled_from(ProductState.Status.values + list(ProductState.Status))),
        what_works=draw(_ITEMS),
        what_is_blocked=draw(_ITEMS),
        open_questions=draw(_ITEMS),
        next_session_starts_here=draw(_TEXT),
        last_session_summary=draw(_TEXT),
        updated_at=draw(_MOMENT),
        version=draw(st.integers(min_value=1, max_value=2**31 - 1)),
    )


@st.composite
def decisions(draw, product):
    return Decision(
        decision=draw(st.text(min_size=1, max_size=20)),
        product=product,
        reasoning=draw(_TEXT),
        tags=draw(_ITEMS),
        affects_products=draw(_ITEMS),
        alternatives=draw(_ITEMS),
        decided_at=draw(_MOMENT),
        created_at=draw(_MOMENT),
    )


@settings(max_examples=200, deadline=None)
@given(data=st.data(), scope=st.sampled_from(["personal", "team", "agency"]))
def test_product_state_body_is_what_the_response_serializer_produces(data, scope):
    product = data.draw(products())
    recent = data.draw(st.lists(decisions(product), max_size=3))
    expected = ProductStateSerializer(product, context={"recent_decisions": recent, "scope": scope}).data
    assert json.dumps(product_state_body(product, recent, scope)) == json.dumps(expected)  # values and key order
