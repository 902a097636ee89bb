"""``GET /healthz``."""

import pytest

from synchronex.celery import app as celery_app


@pytest.mark.usefixtures("broker_on_test_database")
def test_healthy_when_database_cache_and_broker_answer(api):
    response = api.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "cache": "ok", "broker": "ok"}}


@pytest.fixture
def unreachable_broker():
    original = celery_app.conf.broker_url
    celery_app.conf.broker_url = "redis://127.0.0.1:1/0"
    celery_app.pool.force_close_all() if celery_app._pool else None
    celery_app._pool = None
    yield
    celery_app.conf.broker_url = original
    celery_app._pool = None


def test_unavailable_broker_is_a_503_in_the_envelope(api, unreachable_broker):
    response = api.get("/healthz")
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "SERVICE_UNAVAILABLE"
    assert error["details"]["checks"] == {"database": "ok", "cache": "ok", "broker": "unavailable"}
