"""Embedding providers (SPEC §6): ``none`` (default), ``openai`` (any OpenAI-compatible
``/v1/embeddings``), ``local`` (sentence-transformers, optional requirements file).

Contract used by search and by the embedding task:

- ``provider_for_space(space)`` returns an ``EmbeddingProvider`` or ``None`` (keyword-only).
  The deployment's settings (``EMBEDDINGS_*``) choose the provider; a space's
  ``EmbeddingSettings`` row overrides them.
- ``provider.model`` and ``provider.dimensions`` are stored next to every vector; a vector of
  another model or size is never compared. ``dimensions`` is known up front for configured sizes
  (``EMBEDDINGS_DIMENSIONS``) and well-known models (``KNOWN_DIMENSIONS``); otherwise it is
  ``None`` until the first ``embed`` call learns it, so compare by ``len(query_vector)`` then.
- ``provider.embed(texts)`` returns one list of floats per text, or raises ``EmbeddingUnavailable``
  (also for an answer that cannot be matched to its texts: ``_vectors_of_answer``).
  Callers go through ``apps.memory.embedding_pause.embed_unless_paused``, which leaves a provider
  that is down, hangs or asks to slow down alone for a while.
"""

from __future__ import annotations

import http.client
import json
import numbers
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from functools import lru_cache, partial
from typing import Protocol
from urllib.parse import urlsplit

from django.conf import settings

from apps.memory.services import MAX_EMBEDDING_DIMENSIONS, MAX_VECTOR_COMPONENT, has_direction
from synchronex.api.parsers import ascii_integer
from synchronex.api.rows import Rows
from synchronex.api.tokens import count_tokens
from synchronex.deadline import Deadline

DEFAULT_MODELS = {"openai": "text-embedding-3-small", "local": "all-MiniLM-L6-v2"}
# Sizes of well-known models, so ``provider.dimensions`` is known before the first call. Other
# models learn it from their first answer, or take EMBEDDINGS_DIMENSIONS.
KNOWN_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
    "all-MiniLM-L6-v2": 384,
    "sentence-transformers/all-MiniLM-L6-v2": 384,
}
# What an answer may take, from the number of texts and the size of their vectors (the known
# size, else the largest pgvector stores): a real answer stays well within it (OpenAI's indented
# numbers take about 30 bytes each), and one beyond it is refused before it is parsed, so that a
# provider cannot make a search or a worker parse, and hold, more than the vectors asked for.
BYTES_PER_COMPONENT = 64
BYTES_PER_ITEM = 1024  # an item's other members ("object", "index") and layout
BYTES_OVERHEAD = 64 * 1024  # the answer's other members ("model", "usage", …)
# Commas bound the values a JSON text holds: one per component, a few per item and answer.
COMMAS_PER_ITEM = 16
COMMAS_OVERHEAD = 1024
# How every refusal of an answer begins (an answer that is not vectors matching what was sent).
MALFORMED = "The embedding provider's answer is malformed"
# The longest wait a provider's Retry-After is followed for: no longer than the embedding task's
# longest retry countdown, which must stay under the broker's visibility timeout.
RETRY_AFTER_MAX_SECONDS = 600


class EmbeddingUnavailable(Exception):
    """The provider could not produce vectors now (network, quota, bad key, a malformed answer).

    ``down``: it timed out, could not be reached or answered 5xx or 429, so a call soon would
    likely fail the same way (the pause, ``apps.memory.embedding_pause``). ``retry_after``: the
    seconds it asked to be left alone (its ``Retry-After``, at most ``RETRY_AFTER_MAX_SECONDS``),
    or what remains of its pause; None when nothing says how long.
    """

    def __init__(self, message: str, *, down: bool = False, retry_after: float | None = None):
        super().__init__(message)
        self.down = down
        self.retry_after = retry_after


def retry_after_seconds(value: str | None) -> float | None:
    """A ``Retry-After`` header (seconds, or an HTTP date) as seconds from now, between 0 and
    ``RETRY_AFTER_MAX_SECONDS``; None when absent or unreadable."""
    value = (value or "").strip()
    if not value:
        return None
    whole = ascii_integer(value)  # isdigit() also held for "١٢" (read as 12) and "²" (float() raised)
    if whole is not None and whole >= 0:
        seconds = float(min(whole, RETRY_AFTER_MAX_SECONDS))  # float() of a huge int overflows
    else:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    return min(max(seconds, 0.0), RETRY_AFTER_MAX_SECONDS)


class EmbeddingProvider(Protocol):
    name: str
    model: str
    dimensions: int | None

    def embed(self, texts: list[str]) -> list[list[float]]: ...


def fit_to_tokens(text: str, max_tokens: int) -> str:
    """``text`` cut (from the end) to at most ``max_tokens`` o200k tokens: providers reject longer input."""
    count = count_tokens(text)
    while count > max_tokens:
        text = text[: max(1, int(len(text) * max_tokens / count * 0.95))]
        count = count_tokens(text)
    return text


def _check_vectors(vectors, expected: int, dimensions: int | None) -> list[list[float]]:
    """One vector (a list) per input, all numeric and of one size (the configured one when set),
    at most the ``MAX_EMBEDDING_DIMENSIONS`` pgvector stores (a larger one fails the write, which
    is no database outage to retry), each component one a 32-bit float holds (pgvector's
    storage): a number beyond it (``1e300``, finite as a double), an infinity or NaN would make
    PostgreSQL refuse the search or the write, so such an answer is a provider failure like any
    other (search falls back to keywords, the embedding task retries). So is a vector without a
    direction (``has_direction``), and a component that is no number: JSON ``true`` (a Python
    ``bool``, an ``int`` to ``float()``) or a string."""
    if len(vectors) != expected:
        raise EmbeddingUnavailable(f"{MALFORMED}: {len(vectors)} vectors for {expected} texts.")
    if not all(isinstance(v, list) for v in vectors):
        raise EmbeddingUnavailable(f"{MALFORMED}: an embedding is not a list.")
    sizes = {len(v) for v in vectors}
    if len(sizes) > 1 or 0 in sizes:
        raise EmbeddingUnavailable(f"{MALFORMED}: vectors of different or zero sizes.")
    if max(sizes) > MAX_EMBEDDING_DIMENSIONS:
        raise EmbeddingUnavailable(
            f"{MALFORMED}: {max(sizes)} dimensions, more than the {MAX_EMBEDDING_DIMENSIONS} pgvector stores."
        )
    if dimensions is not None and sizes != {dimensions}:
        raise EmbeddingUnavailable(f"{MALFORMED}: {sizes.pop()} dimensions, not {dimensions}.")
    # ``numbers.Real`` rather than int/float: the local provider's components are numpy floats.
    if any(isinstance(x, bool) or not isinstance(x, numbers.Real) for v in vectors for x in v):
        raise EmbeddingUnavailable(f"{MALFORMED}: a vector that is not a list of numbers.")
    try:
        checked = [[float(x) for x in v] for v in vectors]
    except OverflowError:  # an integer beyond a double's range
        checked = None
    # ``not abs(x) <= MAX`` is also true of NaN, which compares false with everything.
    if checked is None or any(not abs(x) <= MAX_VECTOR_COMPONENT for v in checked for x in v):
        raise EmbeddingUnavailable(f"{MALFORMED}: a vector component out of range of a 32-bit float.")
    if not all(has_direction(v) for v in checked):
        raise EmbeddingUnavailable(f"{MALFORMED}: a zero vector.")
    return checked


def _answer_bounds(count: int, dimensions: int | None) -> tuple[int, int]:
    """The most bytes, and the most commas, an answer of ``count`` vectors of ``dimensions``
    (unknown: the largest pgvector stores) may hold."""
    size = min(dimensions or MAX_EMBEDDING_DIMENSIONS, MAX_EMBEDDING_DIMENSIONS)
    most_bytes = count * (size * BYTES_PER_COMPONENT + BYTES_PER_ITEM) + BYTES_OVERHEAD
    return most_bytes, count * (size + COMMAS_PER_ITEM) + COMMAS_OVERHEAD


def _vectors_of_answer(raw: bytes, count: int, dimensions: int | None) -> tuple[list[list[float]], dict | None]:
    """The vectors of an OpenAI-compatible answer to ``count`` texts, in the texts' order, and its
    ``usage``. Anything else than a JSON object within ``_answer_bounds`` whose ``data`` holds one
    object per text, each with an integer ``index`` (together 0..count-1, each once: otherwise a
    vector cannot be matched to its text) and an ``embedding`` that ``_check_vectors`` accepts, is
    ``EmbeddingUnavailable``: the provider failure search and the embedding task already handle
    (keyword ranking; a retry), never an error of ours."""
    most_bytes, most_commas = _answer_bounds(count, dimensions)
    if len(raw) > most_bytes:
        raise EmbeddingUnavailable(f"{MALFORMED}: larger than {count} vectors take ({most_bytes} bytes).")
    if raw.count(b",") > most_commas:  # counted at C speed, before any value is parsed
        raise EmbeddingUnavailable(f"{MALFORMED}: it holds more values than {count} vectors.")
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        raise EmbeddingUnavailable(f"{MALFORMED}: not JSON.") from None
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise EmbeddingUnavailable(f"{MALFORMED}: no data[] of objects.")
    if len(data) != count:
        raise EmbeddingUnavailable(f"{MALFORMED}: {len(data)} vectors for {count} texts.")
    indices = [item.get("index") for item in data]
    # ``type() is int``: JSON true/false are Python bools, and 1.0 is no index.
    if any(type(index) is not int for index in indices) or sorted(indices) != list(range(count)):
        raise EmbeddingUnavailable(f"{MALFORMED}: its indices are not 0..{count - 1}, each once.")
    vectors = [None] * count
    for item in data:
        vectors[item["index"]] = item.get("embedding")
    usage = payload.get("usage")
    return _check_vectors(vectors, count, dimensions), usage if isinstance(usage, dict) else None


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Redirects are refused: following one would carry the API key to another address."""

    def redirect_request(self, *args, **kwargs):
        return None


class _WatchedConnection:
    """An http.client connection whose socket the request's ``Deadline`` watches."""

    def __init__(self, *args, deadline: Deadline, **kwargs):
        super().__init__(*args, **kwargs)
        self._deadline = deadline

    def connect(self) -> None:
        super().connect()
        self._deadline.watch(self.sock)


class _WatchedHTTPConnection(_WatchedConnection, http.client.HTTPConnection):
    pass


class _WatchedHTTPSConnection(_WatchedConnection, http.client.HTTPSConnection):
    pass


class _WatchedHandler:
    """urllib handler mixin: a request carrying a ``deadline`` gets a watched connection."""

    def do_open(self, http_class, req, **kwargs):
        deadline = getattr(req, "deadline", None)
        if deadline is not None:
            watched = (
                _WatchedHTTPSConnection
                if issubclass(http_class, http.client.HTTPSConnection)
                else _WatchedHTTPConnection
            )
            http_class = partial(watched, deadline=deadline)
        return super().do_open(http_class, req, **kwargs)


class _HTTPHandler(_WatchedHandler, urllib.request.HTTPHandler):
    pass


class _HTTPSHandler(_WatchedHandler, urllib.request.HTTPSHandler):
    pass


_OPENER = urllib.request.build_opener(_NoRedirects, _HTTPHandler, _HTTPSHandler)


class OpenAICompatibleProvider:
    """``POST {base_url}/v1/embeddings`` with ``{"model", "input": [...]}`` → ``data[i].embedding``."""

    name = "openai"

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | Callable[[], str | None] | None,
        dimensions: int | None = None,
        timeout: float = 20,
        max_input_tokens: int = 6000,
        space=None,
    ):
        base = base_url.rstrip("/")
        # Accept a base URL given with or without the /v1 suffix.
        self.endpoint = f"{base}/embeddings" if base.endswith("/v1") else f"{base}/v1/embeddings"
        self.model = model
        self.dimensions = dimensions or KNOWN_DIMENSIONS.get(model)
        # Only an explicitly configured size is asked of the server (OpenAI's "dimensions").
        self._requested_dimensions = dimensions
        self._api_key = api_key  # a callable is resolved at the first call
        self._space = space  # when set, every successful call is recorded as a cost event
        self.timeout = timeout
        self.max_input_tokens = max_input_tokens
        self.last_usage: dict | None = None  # the server's ``usage`` of the last call (for cost events)

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAICompatibleProvider(endpoint={self.endpoint!r}, model={self.model!r})"

    def _key(self) -> str | None:
        if callable(self._api_key):
            self._api_key = self._api_key()
        return self._api_key

    def pause_identity(self) -> str:
        """What one pause covers (``apps.memory.embedding_pause``): the server, the model and the
        key, which the pause module only ever keeps as a keyed digest. A space's own BYOK key is
        another provider than the deployment's, paused on its own."""
        return f"{self.endpoint}\n{self.model}\n{self._key() or ''}"

    def embed(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        if urllib.parse.urlsplit(self.endpoint).scheme not in ("http", "https"):
            raise EmbeddingUnavailable(f"The embedding server URL must be http(s): {self.endpoint}")
        body: dict = {"model": self.model, "input": [fit_to_tokens(t, self.max_input_tokens) for t in texts]}
        if self._requested_dimensions:
            body["dimensions"] = self._requested_dimensions
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if api_key := self._key():
            headers["Authorization"] = f"Bearer {api_key}"
        request = urllib.request.Request(  # noqa: S310 - http(s) only, checked above
            self.endpoint, data=json.dumps(body).encode("utf-8"), headers=headers, method="POST"
        )
        # The timeout bounds the whole call (connecting, sending, reading the answer), and so each
        # read from the socket too.
        request.deadline = Deadline(self.timeout)
        most_bytes = _answer_bounds(len(texts), self.dimensions)[0]
        try:
            with request.deadline, _OPENER.open(request, timeout=self.timeout) as response:
                raw = response.read(most_bytes + 1)  # one byte more tells a larger answer
            if request.deadline.expired:
                raise TimeoutError  # cut off: what was read is a part of the answer at most
        except urllib.error.HTTPError as exc:
            # Only an overloaded or failing server's Retry-After is followed (RFC 9110 gives it to
            # 429 and 503); any other refusal is not helped by waiting.
            down = exc.code == 429 or exc.code >= 500
            wait = exc.headers.get("Retry-After") if down and exc.headers else None
            raise EmbeddingUnavailable(
                f"The embedding server answered HTTP {exc.code} ({self.endpoint}).",
                down=down,
                retry_after=retry_after_seconds(wait),
            ) from None
        except (urllib.error.URLError, TimeoutError, OSError, http.client.HTTPException) as exc:
            # HTTPException: an answer cut short (by the server, or by the deadline).
            reason = getattr(exc, "reason", exc)
            if request.deadline.expired:
                reason = f"timed out (no complete answer within {self.timeout:g} s)"
            raise EmbeddingUnavailable(
                f"The embedding server is unreachable ({self.endpoint}): {reason}.", down=True
            ) from None
        vectors, self.last_usage = _vectors_of_answer(raw, len(texts), self.dimensions)
        self.dimensions = len(vectors[0])
        if self._space is not None:
            _record_embedding_cost(self, space=self._space, sent=body["input"])
        return vectors


def _record_embedding_cost(provider: OpenAICompatibleProvider, *, space, sent: list[str]) -> None:
    """An embeddings server may bill every call: each one becomes a cost event (SPEC §6, §9),
    priced from the price table for OpenAI's API, unpriced for other servers."""
    from apps.costs.services import cost_event_record

    tokens = (provider.last_usage or {}).get("prompt_tokens")
    if isinstance(tokens, bool) or not isinstance(tokens, int) or not 0 <= tokens <= 10**9:
        tokens = sum(count_tokens(text) for text in sent)  # the server did not say: count what was sent
    host = urlsplit(provider.endpoint).hostname
    cost_event_record(
        space=space,
        provider="openai" if host == "api.openai.com" else "openai_compatible",
        model=provider.model,
        input_tokens=tokens,
        output_tokens=0,
        operation="embedding",
        source="service",
    )


@lru_cache(maxsize=2)
def _sentence_transformer(model: str):
    """Load (once per process) a sentence-transformers model; the package is optional."""
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise EmbeddingUnavailable(
            "The local embedding provider needs the sentence-transformers package, which is not "
            f"installed: pip install -r requirements-local.txt ({exc})."
        ) from None
    try:
        return SentenceTransformer(model)
    except Exception as exc:  # the library raises many kinds (download, file, torch)
        raise EmbeddingUnavailable(f"Could not load the local embedding model {model!r}: {exc}") from None


class LocalProvider:
    """sentence-transformers in this process (default ``all-MiniLM-L6-v2``, 384 dimensions)."""

    name = "local"

    def __init__(self, *, model: str):
        self.model = model
        self.dimensions: int | None = KNOWN_DIMENSIONS.get(model)

    def embed(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        encoder = _sentence_transformer(self.model)
        try:
            vectors = encoder.encode(list(texts), normalize_embeddings=True, show_progress_bar=False)
        except Exception as exc:
            raise EmbeddingUnavailable(f"The local embedding model failed: {exc}") from None
        vectors = _check_vectors([list(v) for v in vectors], len(texts), self.dimensions)
        self.dimensions = len(vectors[0])
        return vectors


def byok_api_key_for_space(space, *, base_url: str) -> str | None:
    """The space's own BYOK key for the server at ``base_url``: its ``openai`` credential for
    OpenAI's API, or an ``openai_compatible`` one stored for that same URL. Preferred to the
    deployment's key; never sent to another server than the one it was stored for."""
    from apps.byok.services import byok_secret_for_endpoint

    return byok_secret_for_endpoint(space=space, base_url=base_url)


@dataclass(frozen=True)
class EmbeddingConfig:
    """The effective embedding configuration of a space."""

    provider: str
    base_url: str
    model: str
    dimensions: int | None
    uses_deployment_url: bool


@lru_cache(maxsize=1)
def _settings_rows():
    from apps.memory.models import EmbeddingSettings

    rows = Rows(EmbeddingSettings, "e")
    return rows, f"SELECT {rows.columns} FROM {EmbeddingSettings._meta.db_table} e WHERE e.space_id = %s"


# Where a space read by the scoped accessor carries its settings (``preload_embedding_settings``).
_PRELOADED = "preloaded_embedding_settings"


def embedding_settings_columns() -> str:
    """The settings' columns under the alias ``e``, for a statement that reads a space with its
    settings (``LEFT JOIN memory_embeddingsettings e``); its row goes to
    ``preload_embedding_settings``."""
    return _settings_rows()[0].columns


def preload_embedding_settings(space, values) -> None:
    """Leave on ``space`` its settings as read with it: ``values`` are the
    ``embedding_settings_columns`` of its row, all NULL when it has none. The scoped accessor
    does this (apps/scopes/selectors.py), and its spaces are remembered between requests under
    the account's context stamp, which a change of the settings renews (migration ``memory.0005``)."""
    rows = _settings_rows()[0]
    space.__dict__[_PRELOADED] = rows.build(values) if values[0] is not None else None


def _embedding_settings_of(space):
    """The space's override, if any: as preloaded with the space (``preload_embedding_settings``),
    else read here (every search asks, so the statement is written out). Django's own relation
    cache is not trusted for this: ``create(space=space)`` fills it and a later queryset update or
    delete leaves it stale."""
    if _PRELOADED in space.__dict__:
        return space.__dict__[_PRELOADED]
    rows, sql = _settings_rows()
    return rows.one(sql, [space.pk])


def embedding_config_for_space(space) -> EmbeddingConfig:
    """The deployment's settings with the space's ``EmbeddingSettings`` (if any) on top."""
    override = _embedding_settings_of(space)
    provider = override.provider if override else settings.EMBEDDINGS_PROVIDER
    base_url = (override.base_url if override else "") or settings.EMBEDDINGS_BASE_URL
    uses_deployment_url = base_url.rstrip("/") == settings.EMBEDDINGS_BASE_URL.rstrip("/")
    # The deployment's model and size belong to the deployment's provider and server only.
    inherits = provider == settings.EMBEDDINGS_PROVIDER and uses_deployment_url
    model = (override.model if override else "") or (settings.EMBEDDINGS_MODEL if inherits else None)
    deployment_model = settings.EMBEDDINGS_MODEL or DEFAULT_MODELS.get(provider, "")
    model = model or DEFAULT_MODELS.get(provider, "")
    return EmbeddingConfig(
        provider=provider,
        base_url=base_url,
        model=model,
        dimensions=settings.EMBEDDINGS_DIMENSIONS if inherits and model == deployment_model else None,
        uses_deployment_url=uses_deployment_url,
    )


def provider_for_space(space) -> EmbeddingProvider | None:
    """The provider configured for ``space`` (deployment setting, overridable per space)."""
    config = embedding_config_for_space(space)
    if config.provider == "openai":
        # The deployment's key goes only to the deployment's server, never to a URL set per space.
        deployment_key = settings.EMBEDDINGS_API_KEY if config.uses_deployment_url else None
        # A server set for the space whose stored key its plan no longer allows is not called
        # keyless (a 401 each time): keyword search until an upgrade. On the deployment's server
        # the deployment's key serves the space instead (the lookup below finds no space key).
        from apps.byok.services import byok_withheld_for_endpoint

        if not config.uses_deployment_url and byok_withheld_for_endpoint(space=space, base_url=config.base_url):
            return None
        return OpenAICompatibleProvider(
            base_url=config.base_url,
            model=config.model,
            # Looked up at the first call: a provider built only to check the configuration
            # neither queries the space's key nor marks it used.
            api_key=lambda: byok_api_key_for_space(space, base_url=config.base_url) or deployment_key,
            dimensions=config.dimensions,
            timeout=settings.EMBEDDINGS_TIMEOUT_SECONDS,
            max_input_tokens=settings.EMBEDDINGS_MAX_INPUT_TOKENS,
            space=space,
        )
    if config.provider == "local":
        return LocalProvider(model=config.model)
    return None
