"""The injection block: a pure, deterministic rendering of an effective kernel (SPEC §4).

``render_block(kernel)`` takes the effective kernel dict (the four sections, each ``None`` when
unset) and returns the Markdown block an AI tool injects at the start of a session. Content comes
in priority order — identity line, ``never`` constraints, ``always`` constraints, communication
style, products, model preferences — and the block as returned never exceeds ``MAX_TOKENS``
o200k_base tokens counted with ``count_tokens`` on the whole text.

When the kernel does not fit, the lowest-priority lines are dropped whole (a line is never cut):
lines are taken in priority order while the whole block still fits, and everything after the
first line that does not fit is dropped. Two refinements keep one pathological value from
emptying the block: a line that could not fit even on its own (with its heading) is skipped
instead of ending the block, and the identity line sheds its lowest-priority fields (timezone,
location, industry, company, role — in that order) until it fits on its own. Section headings
appear only above sections that kept at least one line.

Structure (headings, list markers, bold names) comes only from here: each value is one line
(whitespace collapsed) whose leading mark is escaped (``synchronex/rendering.py``: a name of
``# SYSTEM`` prints ``\\# SYSTEM``), and a product name's ``*``, ``_``, backtick and backslash are
escaped inside its bold. ``render_text`` gives the kernel export's text format from the same
lines, not by rewriting the Markdown, so user text such as ``A**B`` stays as written there.

Nothing here touches the database; the same kernel always renders to the same block.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from synchronex.api.tokens import count_tokens
from synchronex.rendering import value_lines

MAX_TOKENS = 500
# Bump when the rendering changes, so cached blocks can be told apart from fresh ones (a stored
# block of another version is rendered again on its next read). 2: values are escaped.
RENDERER_VERSION = 2

# Identity fields in the order they appear on the identity line (and the reverse order in
# which they are shed when the line alone is too long).
IDENTITY_ORDER = ("name", "role", "company", "industry", "location", "timezone")

_WHITESPACE = re.compile(r"\s+")
# Inside ``**…**`` these would close the bold early or open a code span across it. Not ``_``: it
# cannot close a ``**`` bold, and a secret pasted into a name (``gsk_…``) must stay as written for
# the exports' redaction to find it.
_BOLD_ESCAPES = str.maketrans({"\\": "\\\\", "*": "\\*", "`": "\\`"})


@dataclass(frozen=True)
class RenderedBlock:
    text: str
    tokens: int
    truncated: bool


@dataclass(frozen=True)
class _Line:
    heading: str
    text: str
    plain: str | None = None  # the text format's line, when it differs (bold product names)


def _clean(value) -> str:
    """One line of text: internal newlines and runs of whitespace become single spaces."""
    return _WHITESPACE.sub(" ", str(value)).strip()


def _identity_text(identity: dict, fields: tuple[str, ...]) -> str:
    parts = []
    for field in fields:
        value = _clean(identity.get(field) or "")
        if not value:
            continue
        if field == "timezone":
            value = f"timezone {value}"
        parts.append(value)
    return value_lines(" · ".join(parts))  # the line is the value's: it may not start as a heading


def _identity_line(identity: dict | None, limit: int | None) -> _Line | None:
    """The identity line; with a ``limit``, shed fields until the line alone fits it."""
    if not identity:
        return None
    if limit is None:
        text = _identity_text(identity, IDENTITY_ORDER)
        return _Line("Identity", text) if text else None
    fields = IDENTITY_ORDER
    while fields:
        text = _identity_text(identity, fields)
        if text and _count([_Line("Identity", text)]) <= limit:
            return _Line("Identity", text)
        fields = fields[:-1]
    return None


def _product_line(product: dict) -> _Line:
    """``- **name** (status): summary <url>``; the text format prints the name without bold."""
    name = _clean(product.get("name", ""))
    text = ""
    status = _clean(product.get("status") or "")
    if status:
        text += f" ({status})"
    summary = _clean(product.get("summary") or "")
    if summary:
        text += f": {summary}"
    url = _clean(product.get("url") or "")
    if url:
        text += f" <{url}>"
    return _Line("Products", f"- **{name.translate(_BOLD_ESCAPES)}**{text}", f"- {value_lines(name)}{text}")


def _candidate_lines(kernel: dict, limit: int | None) -> list[_Line]:
    """Every line of the block, highest priority first (``limit``: see ``_identity_line``)."""
    lines: list[_Line] = []
    identity = _identity_line(kernel.get("identity"), limit)
    if identity is not None:
        lines.append(identity)

    constraints = kernel.get("constraints") or {}
    # An item after "- " starts a block in Markdown as much as a line does: escaped alike.
    lines += [_Line("Never", f"- {value_lines(_clean(item))}") for item in constraints.get("never") or []]
    lines += [_Line("Always", f"- {value_lines(_clean(item))}") for item in constraints.get("always") or []]
    style = value_lines(_clean(constraints.get("communication_style") or ""))
    if style:
        lines.append(_Line("Communication style", style))

    lines += [_product_line(p) for p in kernel.get("products") or []]

    prefs = kernel.get("model_preferences") or {}
    if prefs.get("default_model"):
        lines.append(_Line("Model preferences", f"- Default model: {_clean(prefs['default_model'])}"))
    if prefs.get("providers"):
        providers = ", ".join(_clean(p) for p in prefs["providers"])
        lines.append(_Line("Model preferences", f"- Providers: {providers}"))
    # jsonb does not keep key order: sort tasks so the block is deterministic.
    for task, model in sorted((prefs.get("routing") or {}).items()):
        lines.append(_Line("Model preferences", f"- For {_clean(task)}: {_clean(model)}"))
    return lines


def _join(lines: list[_Line], *, plain: bool = False) -> str:
    """The lines under their headings: ``## X`` in Markdown, ``X:`` in the text format."""
    out: list[str] = []
    heading = None
    for line in lines:
        if line.heading != heading:
            if out:
                out.append("")
            out.append(f"{line.heading}:" if plain else f"## {line.heading}")
            heading = line.heading
        out.append(line.plain if plain and line.plain is not None else line.text)
    return "\n".join(out)


def _count(lines: list[_Line]) -> int:
    return count_tokens(_join(lines))


def render_block(kernel: dict, *, max_tokens: int = MAX_TOKENS) -> RenderedBlock:
    """Render the effective kernel into its injection block (at most ``max_tokens`` tokens)."""
    kept, truncated = _kept_lines(kernel, max_tokens)
    text = _join(kept)
    return RenderedBlock(text=text, tokens=count_tokens(text), truncated=truncated)


def render_text(kernel: dict, *, max_tokens: int = MAX_TOKENS, complete: bool = False) -> str:
    """The block ``render_block`` renders, in the text format (the kernel export's): the same
    lines built from the same values, under ``X:`` headings, product names without bold. Values
    print as in the block, never rewritten (a leading mark keeps its backslash).

    ``complete``: the caller's block kept every line (a cached block not ``truncated``), so
    they are taken without counting tokens again."""
    lines = _candidate_lines(kernel, None) if complete else _kept_lines(kernel, max_tokens)[0]
    return _join(lines, plain=True)


def _kept_lines(kernel: dict, max_tokens: int) -> tuple[list[_Line], bool]:
    """The lines the block keeps under ``max_tokens`` (module docstring), and whether any went."""
    candidates = _candidate_lines(kernel, max_tokens)
    kept: list[_Line] = []
    truncated = _identity_dropped_fields(kernel, candidates)
    for line in candidates:
        if _count([*kept, line]) <= max_tokens:
            kept.append(line)
            continue
        truncated = True
        if _count([line]) > max_tokens:
            continue  # could never fit: skip it rather than lose everything after it
        break
    return kept, truncated or len(kept) < len(candidates)


def _identity_dropped_fields(kernel: dict, candidates: list[_Line]) -> bool:
    """Whether the identity line had to shed fields to fit on its own."""
    identity = kernel.get("identity")
    if not identity:
        return False
    full = _identity_text(identity, IDENTITY_ORDER)
    if not full:
        return False
    return not candidates or candidates[0].heading != "Identity" or candidates[0].text != full
