"""The admin's date drill-down (``date_hierarchy``) at the edges of the calendar: a year, month or
day whose end lies past 9999-12-31 was a 500; it is refused as any bad filter value is (the list's
``?e=1`` redirect), and the days before it still answer. So is a number too large for a date
(``?created_at__year=99999999999999999999``, an OverflowError), on any date column of any list."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.db import models
from django.urls import reverse

from apps.scopes.services import space_ensure_personal

pytestmark = pytest.mark.django_db

# (model, date field, whether the list drills down only within one space: ``dates_in_space_only``)
DRILLED = [
    (model, model_admin.date_hierarchy, model_admin.dates_in_space_only)
    for model, model_admin in admin.site._registry.items()
    if model_admin.date_hierarchy
]

HUGE = "99999999999999999999"  # no C long holds it: Python's datetime raises OverflowError
REFUSED = [
    {"year": "9999"},
    {"year": "9999", "month": "12"},
    {"year": "9999", "month": "12", "day": "31"},
    {"year": "0"},
    {"year": "10000"},
    {"year": "2026", "month": "13"},
    {"year": HUGE},
    {"year": "2026", "month": HUGE},
    {"year": "2026", "month": "1", "day": HUGE},
]
ANSWERED = [
    {"year": "9999", "month": "11"},
    {"year": "9999", "month": "12", "day": "30"},
    {"year": "2026"},
    {"year": "1", "month": "1", "day": "1"},
]


def _changelist(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def _params(field: str, parts: dict, space_id=None) -> dict:
    params = {f"{field}__{name}": value for name, value in parts.items()}
    return params if space_id is None else {"space": str(space_id), **params}


def test_there_are_drill_downs_to_check():
    assert len(DRILLED) >= 10


@pytest.mark.parametrize("parts", REFUSED, ids=lambda parts: "-".join(parts.values()))
def test_a_drill_down_past_the_calendar_is_refused_not_answered_500(staff, superuser, subtests, parts):
    space = space_ensure_personal(user=superuser)
    for model, field, in_space in DRILLED:
        with subtests.test(model=model._meta.label):
            response = staff.get(_changelist(model), _params(field, parts, space.id if in_space else None))
            assert response.status_code == 302, (response.status_code, response.get("Location"))
            assert response["Location"].endswith("?e=1")
        if in_space:  # without a space the list has no drill-down: the parameters are plain filters
            with subtests.test(model=model._meta.label, space=None):
                response = staff.get(_changelist(model), _params(field, parts))
                assert response.status_code in (200, 302, 400), response.status_code


@pytest.mark.parametrize("parts", ANSWERED, ids=lambda parts: "-".join(parts.values()))
def test_a_drill_down_within_the_calendar_answers(staff, superuser, subtests, parts):
    space = space_ensure_personal(user=superuser)
    for model, field, in_space in DRILLED:
        with subtests.test(model=model._meta.label):
            response = staff.get(_changelist(model), _params(field, parts, space.id if in_space else None))
            assert response.status_code == 200, (response.status_code, response.get("Location"))


def test_a_year_too_large_for_a_date_is_refused_on_every_date_column(staff, subtests):
    """``?<date>__year=`` is a plain filter on every date column (and on a drill-down field of a
    list not narrowed to a space): Django computes the year's bounds while compiling the query."""
    for model in admin.site._registry:
        for field in model._meta.concrete_fields:
            if not isinstance(field, models.DateField):  # a DateTimeField is one too
                continue
            with subtests.test(model=model._meta.label, field=field.name):
                response = staff.get(_changelist(model), {f"{field.name}__year": HUGE})
                assert response.status_code == 302, (response.status_code, response.get("Location"))
                assert response["Location"].endswith("?e=1")
