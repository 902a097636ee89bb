"""Kernel layers: the section names, and how a workspace layer sits on a personal one (SPEC §3).

A kernel layer is a dict of the four sections, each ``None`` when unset. In the personal scope
the effective kernel is the personal layer; in a workspace scope it is
``kernel_merge(personal, workspace)``. Pure functions only.
"""

from __future__ import annotations

SECTIONS = ("identity", "products", "constraints", "model_preferences")
IDENTITY_FIELDS = ("name", "company", "location", "timezone", "role", "industry")
MODEL_PREFERENCE_KEYS = ("providers", "default_model", "routing")
PRODUCT_FIELDS = ("name", "status", "summary", "url")
CONSTRAINT_KEYS = ("always", "never", "communication_style")


def empty_kernel() -> dict:
    return dict.fromkeys(SECTIONS)


def _is_set(value) -> bool:
    return value not in (None, "", [], {})


def _accumulate(first: list | None, second: list | None) -> list:
    """``first`` then ``second``, keeping the first occurrence of each item."""
    seen: set = set()
    out: list = []
    for item in [*(first or []), *(second or [])]:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


def _overlay(base: dict | None, top: dict | None, keys: tuple[str, ...]) -> dict | None:
    """Each key from ``top`` when set there, else from ``base``; None when nothing is set."""
    base, top = base or {}, top or {}
    merged = {}
    for key in keys:
        if _is_set(top.get(key)):
            merged[key] = top[key]
        elif _is_set(base.get(key)):
            merged[key] = base[key]
    return merged or None


def kernel_merge(personal: dict | None, workspace: dict | None) -> dict:
    """The effective kernel of a workspace scope: the workspace layer on top of the personal one.

    - identity fields, ``communication_style`` and each ``model_preferences`` key: the workspace
      value when set, else the personal one;
    - ``constraints.always`` / ``constraints.never``: personal items first, then workspace items,
      duplicates removed (first occurrence kept);
    - ``products``: the workspace list if it has any, else the personal list.

    Either layer may be None (no kernel yet). A section with nothing set is None.
    """
    personal = personal or {}
    workspace = workspace or {}
    p_constraints = personal.get("constraints") or {}
    w_constraints = workspace.get("constraints") or {}

    constraints: dict = {}
    for key in ("always", "never"):
        items = _accumulate(p_constraints.get(key), w_constraints.get(key))
        if items:
            constraints[key] = items
    style = _overlay(p_constraints, w_constraints, ("communication_style",))
    if style:
        constraints.update(style)

    return {
        "identity": _overlay(personal.get("identity"), workspace.get("identity"), IDENTITY_FIELDS),
        "products": list(workspace.get("products") or personal.get("products") or []) or None,
        "constraints": constraints or None,
        "model_preferences": _overlay(
            personal.get("model_preferences"), workspace.get("model_preferences"), MODEL_PREFERENCE_KEYS
        ),
    }


def _fields(section: dict | None, keys: tuple[str, ...]) -> dict | None:
    return None if section is None else {key: section.get(key) for key in keys}


def kernel_shape(sections: dict) -> dict:
    """The four sections as the API shows them: every field of a set section present (``None``
    when unset), in the documented order, nothing else.

    This is what ``KernelSerializer`` produces from stored sections (a test holds the two
    together); reads use it because running DRF's nested serializer cost more than the rest
    of an identity read.
    """
    products = sections.get("products")
    return {
        "identity": _fields(sections.get("identity"), IDENTITY_FIELDS),
        "products": None if products is None else [_fields(product, PRODUCT_FIELDS) for product in products],
        "constraints": _fields(sections.get("constraints"), CONSTRAINT_KEYS),
        "model_preferences": _fields(sections.get("model_preferences"), MODEL_PREFERENCE_KEYS),
    }
