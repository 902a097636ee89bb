"""The login form's 429 page says how long to wait: the same wait as its ``Retry-After``, whatever
``LOGIN_RATE``'s period (it said "a minute" to an address shut out for hours)."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from synchronex.api.ratelimit import wait_in_words

pytestmark = pytest.mark.django_db


def refused_login(settings, rate: str):
    settings.LOGIN_RATE = rate
    client = Client()
    form = {"username": "nobody@example.com", "password": "wrong"}
    assert client.post("/accounts/login/", form).status_code == 200
    refused = client.post("/accounts/login/", form)
    assert refused.status_code == 429
    return refused


def test_the_page_names_the_wait_of_a_daily_window(settings):
    refused = refused_login(settings, "1/d")
    wait = int(refused["Retry-After"])  # windows are staggered per address: anywhere in the day
    assert wait > 120
    text = re.sub(r"\s+", " ", refused.content.decode())
    assert "a minute" not in text
    assert f"Please wait {wait_in_words(wait)} before trying again." in text


def test_the_page_names_the_wait_of_a_minute_window(settings):
    refused = refused_login(settings, "1/m")
    text = re.sub(r"\s+", " ", refused.content.decode())
    assert f"Please wait {wait_in_words(int(refused['Retry-After']))} before trying again." in text


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (1, "1 second"),
        (59, "59 seconds"),
        (60, "60 seconds"),
        (119, "119 seconds"),
        (120, "2 minutes"),
        (121, "3 minutes"),
        (3600, "60 minutes"),
        (7199, "120 minutes"),
        (7200, "2 hours"),
        (86400, "24 hours"),
    ],
)
def test_wait_in_words_rounds_up(seconds, words):
    assert wait_in_words(seconds) == words
