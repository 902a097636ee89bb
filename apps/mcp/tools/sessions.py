"""Session tools: register_session, end_session."""

from __future__ import annotations

from synchronex.api import errors
from synchronex.api.serializers import iso_utc

from ..services import session_end, session_register
from .registry import ToolContext, tool
from .schemas import (
    AGENT_NAME_MAX,
    ENDED_BY_MAX,
    HANDOFF,
    LABEL_MAX,
    PRODUCT_NAME,
    SESSION_ID,
    SESSION_URL_MAX,
    SUMMARY_MAX,
    text,
)


def session_payload(session, scope: str) -> dict:
    return {
        "session_id": str(session.id),
        "product_name": session.product.name,
        "session_url": session.session_url,
        "agent_name": session.agent_name,
        "label": session.label,
        "client_type": session.client_type,
        "metadata": session.metadata,
        "started_at": iso_utc(session.started_at),
        "kernel_loaded_at": iso_utc(session.kernel_loaded_at),
        "ended_at": iso_utc(session.ended_at),
        "summary": session.summary,
        "ended_by": session.ended_by,
        "decisions_captured": session.decisions_captured,
        "scope": scope,
    }


@tool(
    "register_session",
    title="Register a session",
    description=(
        "Start a working session on a product (created when missing). Call it first; pass the returned "
        "session_id to get_identity_kernel and end_session."
    ),
    scope="memory:write",
    read_only=False,
    schema={
        "properties": {
            "product_name": PRODUCT_NAME,
            "session_url": text(SESSION_URL_MAX, "A link to the conversation or run (http or https)."),
            "agent_name": text(AGENT_NAME_MAX, 'Which agent works in it, e.g. "claude-code".'),
            "label": text(LABEL_MAX, "A short label for people."),
            "metadata": {
                "type": "object",
                "maxProperties": 50,
                "description": "Free-form JSON object (≤ 50 keys, ≤ 16 KiB).",
            },
        },
        "required": ["product_name"],
    },
)
def register_session(context: ToolContext, args: dict) -> dict:
    active = context.writable()
    session = session_register(
        space=active.space,
        user=context.user,
        actor=context.credential.actor,
        product_name=args["product_name"],
        session_url=args.get("session_url", "").strip(),
        agent_name=args.get("agent_name", "").strip(),
        label=args.get("label", "").strip(),
        metadata=args.get("metadata"),
    )
    return session_payload(session, active.scope)


@tool(
    "end_session",
    title="End a session",
    description=(
        "End a session: the summary becomes the product's last_session_summary and, unless "
        "next_session_starts_here is given (an empty one clears the handoff), its next-session handoff. Returns "
        "how many decisions were recorded for the product during the session and the handoff note."
    ),
    scope="memory:write",
    read_only=False,
    destructive=True,  # overwrites the product's last_session_summary and handoff
    schema={
        "properties": {
            "session_id": SESSION_ID,
            "summary": text(SUMMARY_MAX, "What happened in the session."),
            "ended_by": text(ENDED_BY_MAX, 'Who ended it, e.g. "user" or the agent\'s name.'),
            "next_session_starts_here": HANDOFF,
        },
        "required": ["session_id", "summary"],
    },
)
def end_session(context: ToolContext, args: dict) -> dict:
    active = context.writable()
    # Every text argument arrives in NFC (registry.call, as the API stores all text): trimmed here.
    summary = args["summary"].strip()
    if not summary:
        raise errors.ValidationFailed.for_fields({"summary": "May not be blank."})
    # A given handoff is written, an empty one too (it clears the handoff, as on the REST state
    # route); without one, the summary becomes the handoff.
    handoff = args.get("next_session_starts_here")
    session = session_end(
        space=active.space,
        session_id=args["session_id"],
        summary=summary,
        ended_by=args.get("ended_by", "").strip() or context.credential.actor,
        next_session_starts_here=None if handoff is None else handoff.strip(),
    )
    session.product.refresh_from_db(fields=["next_session_starts_here"])
    return {
        "session_id": str(session.id),
        "decisions_captured": session.decisions_captured,
        "handoff_note": session.product.next_session_starts_here,
        "ended_at": iso_utc(session.ended_at),
        "scope": active.scope,
    }
