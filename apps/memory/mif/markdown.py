"""The export as Markdown, for people (``format=markdown``): the same rows, filters and redaction
as the MIF document, streamed the same way.

Headings, list markers and section titles are this module's own. Stored text — a handoff, a session
summary, a decision and its reasoning (from CI, through ingest), a generic memory's content (from
another system), list items — is untrusted, and the MCP ``export_memories`` answer goes into a
model's prompt: it prints through ``synchronex.rendering.value_lines``, as in the kernel export,
so none of its lines can start a heading, list item, fence or section (further lines are an
indented continuation), and list items and headings are one line each."""

from __future__ import annotations

import re
from collections.abc import Iterator

from django.utils import timezone

from apps.memory.mif.common import KIND_DECISION, KIND_KERNEL, KIND_MEMORY, KIND_PRODUCT, VENDOR, iso_z
from apps.memory.mif.export import (
    STATE_LISTS,
    ExportOptions,
    _Buffer,
    export_scrubber,
    included_types,
    mif_memories,
    read_snapshot,
)
from synchronex.rendering import value_lines
from synchronex.text import clip

SECTION_TITLES = {
    KIND_KERNEL: "Identity Kernel",
    KIND_PRODUCT: "Products",
    KIND_DECISION: "Decisions",
    KIND_MEMORY: "Memories",
}
_WHITESPACE = re.compile(r"\s+")


def _one_line(text: str, limit: int = 120) -> str:
    """Heading text: one line, bounded, without Markdown heading marks leaking in."""
    line = _WHITESPACE.sub(" ", text).strip().lstrip("#").strip()
    return clip(line, limit)


def _bullets(items) -> list[str]:
    """One line each, whose text cannot open a marker of its own (``- # x`` would be a heading)."""
    return [f"- {value_lines(_WHITESPACE.sub(' ', str(item)).strip())}" for item in items]


def _body(text: str) -> list[str]:
    """A stored text as a paragraph of its own, escaped (module docstring), and the blank line after."""
    return [value_lines(text), ""]


def _kernel(memory: dict) -> list[str]:
    # The rendering's own "## Never", "## Always", … headings sit one level below the section's.
    return [f"#{line}" if line.startswith("## ") else line for line in memory["content"].splitlines()] + [""]


def _product(memory: dict) -> list[str]:
    data = memory["vendor_extensions"][VENDOR]["data"]
    lines = [f"### {_one_line(data['name'])} ({data['status']})", ""]
    for field, title in STATE_LISTS:
        if data[field]:
            lines += [f"**{title}**", "", *_bullets(data[field]), ""]
    if data["next_session_starts_here"]:
        lines += ["**Next session starts here**", "", *_body(data["next_session_starts_here"])]
    if data["last_session_summary"]:
        lines += ["**Last session**", "", *_body(data["last_session_summary"])]
    lines += [f"_Version {data['version']}, updated {data['updated_at']}_", ""]
    return lines


def _decision(memory: dict) -> list[str]:
    data = memory["vendor_extensions"][VENDOR]["data"]
    lines = [f"### {_one_line(data['decision'])}", ""]
    facts = [f"Product: {data['product_name']}", f"Decided: {data['decided_at']}"]
    if data["tags"]:
        facts.append("Tags: " + ", ".join(data["tags"]))
    if data["affects_products"]:
        facts.append("Affects: " + ", ".join(data["affects_products"]))
    if data["superseded_by"]:
        facts.append(f"Superseded by: {data['superseded_by']}")
    if data["supersedes"]:
        facts.append(f"Supersedes: {data['supersedes']}")
    facts.append(f"Id: {data['id']}")
    lines += [*_bullets(facts), ""]
    if len(data["decision"]) > 120 or "\n" in data["decision"]:
        lines += _body(data["decision"])
    if data["reasoning"]:
        lines += ["**Reasoning**", "", *_body(data["reasoning"])]
    if data["alternatives"]:
        lines += ["**Alternatives considered**", "", *_bullets(data["alternatives"]), ""]
    return lines


def _generic(memory: dict) -> list[str]:
    lines = [f"### {_one_line(memory['memory_type'])} · {memory['created_at']}", "", *_body(memory["content"])]
    facts = [f"Id: {memory['id']}"]
    if memory.get("tags"):
        facts.append("Tags: " + ", ".join(str(tag) for tag in memory["tags"]))
    agent = (memory.get("source") or {}).get("agent_name")
    if agent and agent != "unknown":
        facts.append(f"Agent: {agent}")
    return [*lines, *_bullets(facts), ""]


RENDERERS = {KIND_KERNEL: _kernel, KIND_PRODUCT: _product, KIND_DECISION: _decision, KIND_MEMORY: _generic}


def markdown_stream(options: ExportOptions) -> Iterator[bytes]:
    """The Markdown document as UTF-8 chunks."""
    buffer = _Buffer()
    types = ", ".join(included_types(options)) or "none"
    intro = [
        "# Synchronex memory export",
        "",
        f"- Scope: {options.scope}",
        f"- Exported: {iso_z(timezone.now())}",
        f"- Types: {types}",
    ]
    if options.since:
        intro.append(f"- Since: {iso_z(options.since)}")
    buffer.add("\n".join(intro) + "\n")
    with read_snapshot():
        scrub = export_scrubber(options.space)
        section = None
        # Redacted before rendering (``mif_memories``): a heading cut to length could cut a secret
        # in two, and the part left would no longer be found in the rendered text.
        for kind, memory in mif_memories(options, scrub=scrub):
            lines = []
            if kind != section:
                section = kind
                lines += ["", f"## {SECTION_TITLES[kind]}", ""]
            lines += RENDERERS[kind](memory)
            if chunk := buffer.add("\n".join(lines) + "\n"):
                yield chunk
    if section is None:
        buffer.add("\nNothing to export.\n")
    yield buffer.flush()
