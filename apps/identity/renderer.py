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

Nothing here touches the database; the same kernel always renders to the same block.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from synchronex.api.tokens import count_tokens

MAX_TOKENS = 500
# Bump when the rendering changes, so cached blocks can be told apart from fresh ones.
RENDERER_VERSION = 1

# Identity fields in the order they appear on the identity line (and the reverse order in
# which they are shed when the line alone is too long).
IDENTITY_ORDER = ("name", "role", "company", "industry", "location", "timezone")

_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class RenderedBlock:
    text: str
    tokens: int
    truncated: bool


@dataclass(frozen=True)
class _Line:
    heading: str
    text: str


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
    return " · ".join(parts)


def _identity_line(identity: dict | None, limit: int) -> _Line | None:
    if not identity:
        return None
    fields = IDENTITY_ORDER
    while fields:
        text = _identity_text(identity, fields)
        if text and _count([_Line("Identity", text)]) <= limit:
            return _Line("Identity", text)
        fields = fields[:-1]
    return None


def _product_text(product: dict) -> str:
    text = f"**{_clean(product.get('name', ''))}**"
    status = _clean(product.get("status") or "")
    if status:
        text += f" ({status})"
    summary = _clean(product.get("summary") or "")
    if summary:
        text += f": {summary}"
    url = _clean(product.get("url") or "")
    if url:
        text += f" <{url}>"
    return text


def _candidate_lines(kernel: dict, limit: int) -> list[_Line]:
    """Every line of the block, highest priority first."""
    lines: list[_Line] = []
    identity = _identity_line(kernel.get("identity"), limit)
    if identity is not None:
        lines.append(identity)

    constraints = kernel.get("constraints") or {}
    lines += [_Line("Never", f"- {_clean(item)}") for item in constraints.get("never") or []]
    lines += [_Line("Always", f"- {_clean(item)}") for item in constraints.get("always") or []]
    style = _clean(constraints.get("communication_style") or "")
    if style:
        lines.append(_Line("Communication style", style))

    lines += [_Line("Products", f"- {_product_text(p)}") for p in kernel.get("products") or []]

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


def _join(lines: list[_Line]) -> str:
    out: list[str] = []
    heading = None
    for line in lines:
        if line.heading != heading:
            if out:
                out.append("")
            out.append(f"## {line.heading}")
            heading = line.heading
        out.append(line.text)
    return "\n".join(out)


def _count(lines: list[_Line]) -> int:
    return count_tokens(_join(lines))


def render_block(kernel: dict, *, max_tokens: int = MAX_TOKENS) -> RenderedBlock:
    """Render the effective kernel into its injection block (at most ``max_tokens`` tokens)."""
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
    text = _join(kept)
    tokens = count_tokens(text)
    if len(kept) < len(candidates):
        truncated = True
    return RenderedBlock(text=text, tokens=tokens, truncated=truncated)


def _identity_dropped_fields(kernel: dict, candidates: list[_Line]) -> bool:
    """Whether the identity line had to shed fields to fit on its own."""
    identity = kernel.get("identity")
    if not identity:
        return False
    full = _identity_text(identity, IDENTITY_ORDER)
    if not full:
        return False
    return not candidates or candidates[0].heading != "Identity" or candidates[0].text != full


_BOLD = re.compile(r"\*\*(.+?)\*\*")


def block_as_text(block: str) -> str:
    """The block without Markdown marks (for plain-text exports): ``## X`` → ``X:``, no bold."""
    lines = []
    for line in block.splitlines():
        if line.startswith("## "):
            line = f"{line[3:]}:"
        lines.append(_BOLD.sub(r"\1", line))
    return "\n".join(lines)
