"""The scope catalogue (SPEC §2): the one list of OAuth scopes, what each grants, in plain words.

OAuth metadata advertises these, the consent page shows the descriptions, and every API view
names the scope it needs. An API key's ``read`` scope grants every ``…:read`` scope and its
``write`` scope grants all of them.
"""

from __future__ import annotations

SCOPES: dict[str, str] = {
    "memory:read": "Read your Identity Kernel, product states, memories, exports, scope and workspaces",
    "memory:write": (
        "Change your Identity Kernel and product states, import memories, run consolidation and ingest signals"
    ),
    "decisions:read": "Search and read your decisions",
    "decisions:write": "Record and delete decisions",
    "costs:read": "Read your AI cost telemetry",
    "byok:read": "List your provider credentials (never the secrets)",
    "byok:write": "Add and delete provider credentials",
}

API_KEY_SCOPES = ("read", "write")


def is_read_scope(scope: str) -> bool:
    return scope.endswith(":read")


def api_key_allows(key_scope: str, scope: str) -> bool:
    """Whether an API key with ``key_scope`` (read/write) may use an endpoint needing ``scope``."""
    if scope not in SCOPES:
        raise KeyError(f"Unknown scope {scope!r}")
    return key_scope == "write" or is_read_scope(scope)
