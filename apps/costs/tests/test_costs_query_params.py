"""Unknown or repeated query parameters of the cost summaries are VALIDATION_ERRORs (as in search
and MIF export): ``?dayz=7`` must not answer the 30-day default, nor ``?days=7&days=300`` 300 days."""

from __future__ import annotations

import pytest

from apps.costs.tests.test_costs_api import URL, error, summary
from apps.products.services import product_ensure
from apps.scopes.services import space_ensure_personal

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def paths(user):
    product_ensure(space=space_ensure_personal(user=user), name="Alpha")
    return (URL, f"{URL}/Alpha")


def test_unknown_parameters_are_validation_errors_naming_them(read_api, paths):
    for path in paths:
        body = error(read_api.get(path, params={"dayz": "7", "product": "x"}), 400, "VALIDATION_ERROR")
        assert body["details"]["fields"] == {
            "dayz": ["Unknown query parameter."],
            "product": ["Unknown query parameter."],
        }


def test_a_repeated_days_is_a_validation_error(read_api, paths):
    for path in paths:
        body = error(read_api.get(path, params={"days": ["7", "300"]}), 400, "VALIDATION_ERROR")
        assert body["details"]["fields"] == {"days": ["Give this parameter at most once."]}


def test_every_problem_is_named_at_once(read_api, paths):
    for path in paths:
        body = error(read_api.get(path, params={"days": "0", "dayz": "7"}), 400, "VALIDATION_ERROR")
        assert set(body["details"]["fields"]) == {"days", "dayz"}


def test_known_parameters_given_once_still_answer(read_api, paths):
    for path in paths:
        assert summary(read_api, path, days=7)["period"]["days"] == 7
        assert summary(read_api, path)["period"]["days"] == 30
