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


# What ends a line for some reader of a log (C0 and C1 controls, DEL, U+2028 and U+2029) or
# rewrites a terminal (ESC): a request's path, a header or a quoted value carrying one would begin
# a line the client wrote.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# From a ``?`` to the request line's `` HTTP/`` (or the line's end): a query may hold quotes
# (``?q=don't``) and, in a line runserver refuses, raw spaces, so no character class ends it.
_QUERY = re.compile(r"\?(?:(?!\sHTTP/)[^\n])*")


def _escape(match: re.Match) -> str:
    return match.group().encode("unicode_escape").decode("ascii")


def escape_controls(text: str) -> str:
    """``text`` with every control character written as its escape (``\\n``, ``\\x1b``, ``\\u2028``);
    backslashes are left alone, so Django's already escaped ``django.request`` line reads the same."""
    return _CONTROL.sub(_escape, text)


class RequestIdFormatter(logging.Formatter):
    """Every record as one line starting at the margin, with the request id.

    Escaping is done here, for every record of every logger, rather than where a request value is
    logged: no call site (ours, Django's, a library's, one written later) can forget it. The
    message is escaped whole, arguments and all; a traceback or stack keeps its lines, each indented
    and escaped, since its exception's message may quote request text (PostgreSQL quotes the values
    it refuses). Also never fails on records made before the record factory was installed."""

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "request_id"):
            record.request_id = _current.get()
        # The traceback text is cached on the record: ours, never another handler's unescaped one,
        # and left for no other handler to reuse.
        cached, record.exc_text = record.exc_text, None
        try:
            return super().format(record)
        finally:
            record.exc_text = cached

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape_controls(record.message)
        return super().formatMessage(record)

    def formatException(self, ei) -> str:
        return _indented(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return _indented(super().formatStack(stack_info))


def _indented(text: str) -> str:
    """The continuation lines of a record: indented, so that only a record's first line starts at
    the margin, and escaped."""
    return "\n".join(f"  {escape_controls(line)}" if line else line for line in text.split("\n"))


class NoQueryString(logging.Filter):
    """Drops every query string from a record's message: runserver's ``django.server`` lines quote
    the request line (``?access_token=…``, ``?code=…``) and, for a line it refuses, its text too.
    The path stays, as in the ``synchronex.access`` line."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = _QUERY.sub("", record.getMessage()), None
        return True


class ClientMistake(logging.Filter):
    """Makes a record a WARNING without its traceback, for what Django logs as an ERROR with one
    though the client caused it and the answer is a 400: ``django.security.DisallowedHost``, a Host
    that ``ALLOWED_HOSTS`` does not list, as scanners send all the time. The line (its Host,
    escaped) stays, so a deployment missing its own name in ``ALLOWED_HOSTS`` can be seen; the
    traceback told nothing, and error-level alerting is left to the server's own errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
        record.exc_info, record.exc_text = None, None
        # The logger let it through as an ERROR: a WARNING is written only where WARNINGs are.
        return logging.getLogger(record.name).isEnabledFor(logging.WARNING)
