"""``/mcp`` refusing a body as sent: a Content-Encoding, a size over the limit, unreadable framing.

Each refusal is a JSON-RPC error with a null id (the message was never read), as every other
HTTP-level refusal of ``/mcp`` is, never the REST API's error envelope.
"""

from __future__ import annotations

import gzip
import io
import json

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from apps.decisions.models import Decision
from synchronex.api.middleware import ApiErrorMiddleware

LIMIT = 1024 * 1024
OVER_THE_LIMIT = f"The request body is over the limit of {LIMIT} bytes."


def _log_decision(decision: str = "Pin every dependency") -> bytes:
    arguments = {"decision": decision, "product_name": "Atlas"}
    message = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {"name": "log_decision", "arguments": arguments},
    }
    return json.dumps(message).encode()


def _refusal(code: int, message: str, data: dict | None = None) -> dict:
    error = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": None, "error": error}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("coding", "body"),
    [("br", _log_decision()), ("gzip", gzip.compress(_log_decision())), ("identity, gzip", _log_decision())],
)
def test_an_encoded_body_is_unsupported_media_type_never_read_as_plain(mcp, coding, body):
    response = mcp.post(data=body, headers={"Content-Encoding": coding})

    assert response.status_code == 415
    assert response.headers["Accept-Encoding"] == "identity"
    message = f"The request body has a Content-Encoding ({coding}); send it uncompressed, without one."
    assert response.json() == _refusal(-32600, message)
    assert not Decision.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_an_identity_content_encoding_is_read_as_plain(mcp):
    response = mcp.post(data=_log_decision(), headers={"Content-Encoding": "identity"})

    assert response.status_code == 200 and response.json()["result"]["isError"] is False
    assert Decision.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_body_over_the_limit_is_413_with_a_json_rpc_error(mcp):
    response = mcp.post(data=_log_decision("x" * LIMIT))

    assert response.status_code == 413
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == _refusal(-32600, OVER_THE_LIMIT, {"code": "PAYLOAD_TOO_LARGE", "message": OVER_THE_LIMIT})
    assert not Decision.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_chunked_body_this_server_cannot_read_is_a_json_rpc_error(mcp):
    def chunks():
        yield _log_decision()

    response = mcp.post(data=chunks())

    assert response.status_code == 400
    error = response.json()["error"]
    assert response.json()["id"] is None and error["code"] == -32600
    assert error["data"]["code"] == "VALIDATION_ERROR" and "Content-Length" in error["message"]
    assert not Decision.objects.exists()


def _through_the_middleware(meta: dict, body: bytes = b"") -> HttpResponse:
    request = RequestFactory().post("/mcp", data=body, content_type="application/json", **meta)
    request.environ["wsgi.input"] = io.BytesIO(body)
    return ApiErrorMiddleware(lambda request: HttpResponse(status=204))(request)


@pytest.mark.parametrize(
    ("meta", "body", "status", "code", "message"),
    [
        ({"CONTENT_LENGTH": "1_0"}, b"{}", 400, "VALIDATION_ERROR", "The Content-Length header is not a number."),
        (
            {"CONTENT_LENGTH": "", "HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input_terminated": True},
            b"[" + b" " * LIMIT + b"]",
            413,
            "PAYLOAD_TOO_LARGE",
            OVER_THE_LIMIT,
        ),
    ],
)
def test_every_early_refusal_of_the_middleware_is_a_json_rpc_error_on_mcp(meta, body, status, code, message):
    response = _through_the_middleware(meta, body)

    assert response.status_code == status
    assert json.loads(response.content) == _refusal(-32600, message, {"code": code, "message": message})
