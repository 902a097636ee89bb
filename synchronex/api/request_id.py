"""The request id of the request being served, for responses and log lines."""

from __future__ import annotations

import contextvars
import logging
import re
import uuid

_current: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
# An inbound id is echoed only when it is short and plain, so it cannot forge log lines.
SANE = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def current_request_id() -> str:
    return _current.get()


def accept_or_generate(inbound: str | None) -> str:
    if inbound and SANE.match(inbound):
        return inbound
    return uuid.uuid4().hex


def set_request_id(value: str) -> None:
    _current.set(value)


def forget_request_id(**kwargs) -> None:
    """``request_finished`` receiver: the server closes the response once it is sent, after the
    ``django.request`` line Django logs for an error status (outside every middleware) and after
    a streamed body, which carry the id too. From then on this thread logs ``-`` until its next
    request sets its own id."""
    _current.set("-")


def install_log_record_factory() -> None:
    """Give every log record a ``request_id`` attribute, whatever handler formats it."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "synchronex_request_id", False):
        return

    def factory(*args, **kwargs):
        record = previous(*args, **kwargs)
        record.request_id = _current.get()
        return record

    factory.synchronex_request_id = True
    logging.setLogRecordFactory(factory)


class RequestIdFormatter(logging.Formatter):
    """A formatter that never fails on records made before the record factory was installed."""

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "request_id"):
            record.request_id = _current.get()
        return super().format(record)
