"""``GET /healthz``."""

import pytest

from synchronex.celery import app as celery_app


@pytest.mark.usefixtures("broker_on_test_database")
def test_healthy_when_database_cache_and_broker_answer(api):
    response = api.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "cache": "ok", "broker": "ok"}}
    assert response.headers["Cache-Control"] == "no-store"  # no cache answers for this instant


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
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Retry-After"] == "5"


def test_health_and_every_api_503_document_retry_after(api):
    document = api.get("/api/v1/openapi.json").json()
    health = document["paths"]["/healthz"]["get"]["responses"]["503"]
    assert health["headers"]["Retry-After"] == {"$ref": "#/components/headers/RetryAfterUnavailable"}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if "503" in operation.get("responses", {}):
                assert "Retry-After" in operation["responses"]["503"]["headers"], (method, path)
