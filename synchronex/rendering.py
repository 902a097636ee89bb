"""Stored values inside rendered context: a value never writes structure.

The injection block (SPEC §4), the kernel export (SPEC §9) and a decision's render text print
stored values — kernel fields, product-state items and texts, a decision's reasoning (which also
arrives from CI through ingest). Their structure (headings, list markers, bold names, the blank
lines between pieces) comes only from the renderers, so ``value_lines`` makes sure a value can
never start a line that reads as structure, in Markdown or to a model reading the plain text:

- a leading mark on a line of the value (``#``, ``>``, ``-``, ``*``, ``+``, ``=``, ``_``, ``~``,
  ``<``, a backtick, or digits and ``.``/``)`` then a space) gets a backslash: ``\\# x`` is valid
  Markdown for ``# x`` and reads as the same text in the plain-text format, so both formats print
  it alike;
- a value's further lines stay as an indented continuation (two spaces; blank lines dropped), not
  joined with " / ": code or a list in a decision's reasoning keeps its shape, while no value line
  starts at the margin, and every blank line of the output is the renderer's.

One-line values without a leading mark (nearly all) come back unchanged: one ``splitlines`` and a
look at the first character, no pass of a pattern over the text.

A name printed inside a line (a product's in a title or a decision's line) goes through
``one_line``: the rule refuses line breaks in names, but a name stored before it may hold a line or
paragraph separator (U+2028, U+2029), which readers and models take as the end of a line.
"""

from __future__ import annotations

import re

CONTINUATION = "  "
_MARKS = frozenset("#>-*+=_~<`")
_DIGITS = frozenset("0123456789")
# An ordered-list marker (CommonMark: 1–9 digits, then "." or ")", then a space or the end);
# only tried on a line that starts with a digit, so "1.5 hours" stays as written.
_ORDERED = re.compile(r"[0-9]{1,9}(?=[.)](?:\s|$))")
# What ``str.splitlines`` breaks at, with the whitespace around it.
_LINE_BREAK = re.compile(r"\s*[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]\s*")


def _line_start(line: str) -> str:
    """``line`` with a backslash before a leading mark (after its indentation, which is kept)."""
    body = line.lstrip()
    if not body:
        return line
    cut = len(line) - len(body)
    if body[0] in _MARKS:
        return f"{line[:cut]}\\{body}"
    if body[0] in _DIGITS and (marker := _ORDERED.match(body)):
        cut += marker.end()
        return f"{line[:cut]}\\{line[cut:]}"
    return line


def value_lines(value: str, *, inline: bool = False) -> str:
    """``value`` as a renderer prints it: every line that starts a line escaped, further lines
    indented. ``inline``: the renderer writes text before the first line (``Why: …``), so that
    line starts no line and is printed as written."""
    lines = value.splitlines()
    if len(lines) == 1:
        return lines[0] if inline else _line_start(lines[0])
    lines = [line for line in lines if line.strip()]
    if not lines:
        return ""
    first = lines[0] if inline else _line_start(lines[0])
    return "\n".join([first, *(CONTINUATION + _line_start(line) for line in lines[1:])])


def one_line(value: str) -> str:
    """``value`` with each line break (and the whitespace around it) collapsed to one space, for a
    value printed inside a line; a value without one comes back as written."""
    return _LINE_BREAK.sub(" ", value)
