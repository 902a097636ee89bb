"""Whether the request path the client sent was UTF-8, for routes that take names in the path.

Django decodes ``PATH_INFO`` as UTF-8, re-escapes the bytes that are not
(``repercent_broken_unicode``) and writes the result back over ``environ["PATH_INFO"]``: then
``/Caf%E9`` (a Latin-1 é) and ``/Caf%25E9`` (a percent sign) both reach the view as ``Caf%E9``.
``keep_raw_path`` runs on ``request_started``, before the request is built, and keeps the
server's ``PATH_INFO`` (its bytes as Latin-1, PEP 3333) under ``RAW_PATH`` when it holds a byte
beyond ASCII: only such a path can hold one that is not UTF-8, so other requests keep nothing.
"""

from __future__ import annotations

from synchronex.api import errors

RAW_PATH = "synchronex.raw_path_info"


def keep_raw_path(sender, environ=None, **kwargs) -> None:
    """``request_started`` receiver (connected in ``ApiConfig.ready``)."""
    path = (environ or {}).get("PATH_INFO", "")
    if not path.isascii():
        environ[RAW_PATH] = path


def path_is_utf8(request) -> bool:
    """Whether the path's bytes, as sent (percent-escapes decoded), are valid UTF-8."""
    raw = request.META.get(RAW_PATH)
    if raw is None:
        return True
    try:
        raw.encode("latin-1").decode("utf-8")
    except UnicodeEncodeError:
        return True  # already text, not bytes as Latin-1: nothing was re-escaped
    except UnicodeDecodeError:
        return False
    return True


def name_from_path(request, name: str, *, field: str) -> str:
    """The routed ``name``, or VALIDATION_ERROR on ``field`` when the path's bytes are not UTF-8:
    Django turns such bytes into their escapes, so ``Caf%E9`` would name a product ``Caf%E9``,
    which ``Caf%25E9`` names too (one product, two URLs)."""
    if not path_is_utf8(request):
        raise errors.ValidationFailed.for_fields(
            {field: "The name in the path is not UTF-8; percent-encode its UTF-8 bytes."}
        )
    return name
