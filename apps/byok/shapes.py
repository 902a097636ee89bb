"""What a provider key looks like, per service, and which base URLs are acceptable.

The checks catch a key pasted into the wrong service or truncated; they do not prove the key
works. Messages describe the expected shape and never repeat the key.

| service | accepted shape |
|---|---|
| openai | ``sk-`` then ≥ 20 of ``A-Z a-z 0-9 _ -`` (project keys too), not ``sk-ant-``/``sk-or-`` |
| anthropic | ``sk-ant-`` then ≥ 20 of ``A-Z a-z 0-9 _ -`` |
| google | ``AIza`` then exactly 35 of ``A-Z a-z 0-9 _ -`` (39 characters) |
| mistral | exactly 32 letters and digits |
| groq | ``gsk_`` then ≥ 20 letters and digits |
| openrouter | ``sk-or-`` then ≥ 20 of ``A-Z a-z 0-9 _ -`` |
| cohere | exactly 40 letters and digits |
| together | 64 hex characters, or ``tgp_v1_`` then ≥ 20 of ``A-Z a-z 0-9 _ -`` |
| deepseek | ``sk-`` then ≥ 20 letters and digits |
| xai | ``xai-`` then ≥ 20 letters and digits |
| openai_compatible | 8 or more visible ASCII characters (self-hosted servers choose their own tokens) |

Every key is at most ``KEY_MAX`` characters and never contains whitespace.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

KEY_MAX = 512
BASE_URL_MAX = 500

# (pattern, human description of the shape)
KEY_SHAPES: dict[str, tuple[re.Pattern[str], str]] = {
    "openai": (
        re.compile(r"sk-(?!ant-|or-)[A-Za-z0-9_-]{20,}"),
        "sk- followed by at least 20 letters, digits, - or _ (not sk-ant- or sk-or-)",
    ),
    "anthropic": (re.compile(r"sk-ant-[A-Za-z0-9_-]{20,}"), "sk-ant- followed by at least 20 letters, digits, - or _"),
    "google": (re.compile(r"AIza[A-Za-z0-9_-]{35}"), "AIza followed by 35 letters, digits, - or _"),
    "mistral": (re.compile(r"[A-Za-z0-9]{32}"), "32 letters and digits"),
    "groq": (re.compile(r"gsk_[A-Za-z0-9]{20,}"), "gsk_ followed by at least 20 letters and digits"),
    "openrouter": (re.compile(r"sk-or-[A-Za-z0-9_-]{20,}"), "sk-or- followed by at least 20 letters, digits, - or _"),
    "cohere": (re.compile(r"[A-Za-z0-9]{40}"), "40 letters and digits"),
    "together": (
        re.compile(r"[0-9a-f]{64}|tgp_v1_[A-Za-z0-9_-]{20,}"),
        "64 hex characters, or tgp_v1_ followed by at least 20 letters, digits, - or _",
    ),
    "deepseek": (re.compile(r"sk-[A-Za-z0-9]{20,}"), "sk- followed by at least 20 letters and digits"),
    "xai": (re.compile(r"xai-[A-Za-z0-9]{20,}"), "xai- followed by at least 20 letters and digits"),
    "openai_compatible": (re.compile(r"[\x21-\x7e]{8,}"), "at least 8 visible ASCII characters without spaces"),
}
SERVICES = tuple(KEY_SHAPES)


def key_problem(service: str, key: str) -> str | None:
    """Why ``key`` is not a plausible ``service`` key, or None. Never quotes the key."""
    if len(key) > KEY_MAX:
        return f"A key has at most {KEY_MAX} characters."
    pattern, shape = KEY_SHAPES[service]
    if not pattern.fullmatch(key):
        return f"This does not look like a key for {service}: expected {shape}."
    return None


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def base_url_problem(url: str) -> str | None:
    """Why ``url`` is not an acceptable base URL: https anywhere, plain http only to loopback."""
    if len(url) > BASE_URL_MAX:
        return f"A base URL has at most {BASE_URL_MAX} characters."
    if any(ch.isspace() or ord(ch) < 0x21 for ch in url):
        return "A base URL may not contain spaces or control characters."
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError for an invalid port
    except ValueError:
        return "This is not a valid URL."
    if parts.scheme not in ("https", "http") or not host:
        return "Use an absolute http(s) URL such as https://llm.example.com/v1."
    if parts.username is not None or parts.password is not None:
        return "Put credentials in the key, not in the URL."
    if parts.query or parts.fragment:
        return "A base URL has no query string or fragment."
    if parts.scheme == "http" and not _is_loopback(host):
        return "Plain http is allowed only for loopback hosts (localhost, 127.0.0.1, [::1]); use https."
    return None
