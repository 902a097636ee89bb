"""Memory tools: the Identity Kernel, product states, the session handoff and decisions."""

from __future__ import annotations

from apps.decisions.api.serializers import DecisionCreateSerializer, decision_representation, hit_representation
from apps.decisions.selectors import decision_recent_for_product, decision_search
from apps.decisions.services import decision_create
from apps.identity.api.serializers import kernel_body
from apps.identity.export import kernel_redacted
from apps.identity.selectors import kernel_effective
from apps.products.api.serializers import ProductStateWriteSerializer, product_state_body, product_write_body
from apps.products.names import clean_product_name
from apps.products.selectors import product_get
from apps.products.services import product_state_write
from synchronex.api.preconditions import IfMatch, refuse_after_fallback
from synchronex.api.serializers import iso_utc

from ..selectors import session_get, session_of_last_summary
from ..services import session_kernel_loaded
from .registry import ToolContext, tool, validated
from .schemas import (
    AFFECTS,
    ALTERNATIVES,
    CLIENT_TYPE_MAX,
    DECISION_MAX,
    HANDOFF,
    PRODUCT_NAME,
    Q_MAX,
    REASONING_MAX,
    SESSION_ID,
    STATUS,
    TAGS,
    TOKEN_BUDGET_MAX,
    state_list,
    text,
)

SEARCH_DEFAULT_LIMIT = 10


@tool(
    "get_identity_kernel",
    title="Get the Identity Kernel",
    description=(
        "Who the user is, their products, standing constraints (always/never) and model preferences, plus "
        "injection_block: a ready-made context block of at most 500 tokens to put at the start of the session. "
        "With session_id, the session records that it loaded the kernel (kernel_loaded_at, client_type) when the "
        "caller may write here (memory:write, not a workspace viewer); for anyone else the call stays a read: "
        "the kernel is answered and the session left as it is."
    ),
    scope="memory:read",
    read_only=True,
    idempotent=True,
    schema={
        "properties": {
            "session_id": SESSION_ID,
            "client_type": text(CLIENT_TYPE_MAX, 'The kind of client, e.g. "claude-desktop" or "cursor".'),
        }
    },
)
def get_identity_kernel(context: ToolContext, args: dict) -> dict:
    active = context.active
    session = None
    if "session_id" in args:
        session = session_get(space=active.space, session_id=args["session_id"])
    # Redacted here, not only by ``call``: the block is rendered again from the redacted sections,
    # so its tokens and truncation are the block's as the model gets it.
    effective = kernel_redacted(kernel_effective(space=active.space, user=context.user), context.scrub, sections=True)
    body = kernel_body(effective, active.scope)
    if session is not None:
        # Recording the load writes the session (another member's, perhaps): the tool is a read
        # (readOnlyHint, memory:read), so only a caller who could write here changes it.
        if active.can_write and context.allows("memory:write"):
            session_kernel_loaded(session=session, client_type=args.get("client_type", "").strip())
        body["session"] = {"session_id": str(session.id), "product_name": session.product.name}
    return body


def product_name_argument(args: dict) -> str:
    """The normalised ``product_name`` argument (VALIDATION_ERROR naming it when impossible)."""
    return clean_product_name(args["product_name"], field="product_name")


def _recent(context: ToolContext, product) -> list:
    return decision_recent_for_product(product=product, readable=context.allows("decisions:read"))


def _state(context: ToolContext, product, scope: str) -> dict:
    return product_state_body(product, _recent(context, product), scope)


@tool(
    "get_product_state",
    title="Get a product's state",
    description=(
        "A product's status, what works, what is blocked, open questions, the last session summary, where the "
        "next session starts and the five newest current decisions of it and of other products that list it in "
        "affects_products (with decisions:read; else none)."
    ),
    scope="memory:read",
    read_only=True,
    idempotent=True,
    schema={"properties": {"product_name": PRODUCT_NAME}, "required": ["product_name"]},
)
def get_product_state(context: ToolContext, args: dict) -> dict:
    active = context.active
    return _state(context, product_get(space=active.space, name=product_name_argument(args)), active.scope)


@tool(
    "get_session_handoff",
    title="Get the session handoff",
    description=(
        "What the next session on a product needs first: where to start, the last session's summary (and who "
        "ended it: last_session, null when the summary came from elsewhere, such as an ingested session_summary), "
        "what is blocked, open questions and the newest decisions (with decisions:read; else none)."
    ),
    scope="memory:read",
    read_only=True,
    idempotent=True,
    schema={"properties": {"product_name": PRODUCT_NAME}, "required": ["product_name"]},
)
def get_session_handoff(context: ToolContext, args: dict) -> dict:
    active = context.active
    product = product_get(space=active.space, name=product_name_argument(args))
    last = session_of_last_summary(product=product)
    recent = _recent(context, product)
    return {
        "product_name": product.name,
        "status": product.status,
        "next_session_starts_here": product.next_session_starts_here,
        "last_session_summary": product.last_session_summary,
        "last_session": None
        if last is None
        else {
            "session_id": str(last.id),
            "agent_name": last.agent_name,
            "label": last.label,
            "started_at": iso_utc(last.started_at),
            "ended_at": iso_utc(last.ended_at),
            "ended_by": last.ended_by,
            "decisions_captured": last.decisions_captured,
        },
        "what_is_blocked": list(product.what_is_blocked),
        "open_questions": list(product.open_questions),
        "recent_decisions": [decision_representation(d) for d in recent],
        "version": product.version,
        "updated_at": iso_utc(product.updated_at),
        "scope": active.scope,
    }


@tool(
    "search_decisions",
    title="Search decisions",
    description=(
        "Search recorded decisions: full-text (typo-tolerant) and, when the scope has embeddings, semantic "
        "similarity, weighted by recency (semantic tells which ran). With product_name, decisions of other "
        "products that affect it are included (match: affects). token_budget keeps the best results whose "
        "text fits."
    ),
    scope="decisions:read",
    read_only=True,
    idempotent=True,
    schema={
        "properties": {
            "query": text(Q_MAX, "What to look for."),
            "product_name": PRODUCT_NAME,
            "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": SEARCH_DEFAULT_LIMIT},
            "token_budget": {"type": "integer", "minimum": 1, "maximum": TOKEN_BUDGET_MAX},
        },
        "required": ["query"],
    },
)
def search_decisions(context: ToolContext, args: dict) -> dict:
    active = context.active
    product = product_name_argument(args) if "product_name" in args else None
    limit = args.get("limit", SEARCH_DEFAULT_LIMIT)
    # The budget counts the hits as ``call`` redacts them: the marker may be longer than the key.
    result = decision_search(
        space=active.space,
        q=args["query"],
        product=product,
        token_budget=args.get("token_budget"),
        limit=limit,
        scrub=context.scrub,
    )
    body = {
        "results": [hit_representation(hit) for hit in result.hits],
        "count": result.count,
        "semantic": result.semantic,
        "scope": active.scope,
    }
    if result.tokens_used is not None:
        budget = int(args["token_budget"])  # JSON Schema's integer takes 30.0; REST answers 30
        body["tokens"] = {"budget": budget, "used": result.tokens_used, "truncated": result.truncated}
    return body


@tool(
    "log_decision",
    title="Record a decision",
    description=(
        "Record a durable decision with its reasoning (the product is created when missing). supersedes marks "
        "an older decision as replaced; when that one is another product's, that product is added to "
        "affects_products."
    ),
    scope="decisions:write",
    read_only=False,
    schema={
        "properties": {
            "decision": text(DECISION_MAX, "The decision, in one or two sentences."),
            "product_name": PRODUCT_NAME,
            "reasoning": text(REASONING_MAX, "Why.", min_length=0),
            "tags": TAGS,
            "affects_products": AFFECTS,
            "alternatives": ALTERNATIVES,
            # No "format": "uuid": the REST field (run by the handler) also reads 32 hex digits,
            # braces and urn:uuid:, and null for none.
            "supersedes": {"type": ["string", "null"], "description": "Id of the decision this replaces."},
        },
        "required": ["decision", "product_name"],
    },
)
def log_decision(context: ToolContext, args: dict) -> dict:
    active = context.writable()
    data = validated(DecisionCreateSerializer, args)
    created = decision_create(space=active.space, source="mcp", **data)
    return {**decision_representation(created), "scope": active.scope}


@tool(
    "update_product_state",
    title="Update a product's state",
    description=(
        "Partially update a product's state (created when missing): absent fields stay, lists replace. With "
        "expected_version the write applies only if the state is still at that version."
    ),
    scope="memory:write",
    read_only=False,
    destructive=True,  # lists replace and an empty handoff clears it: not additive
    idempotent=True,  # the same arguments again leave the same state
    schema={
        "properties": {
            "product_name": PRODUCT_NAME,
            "status": STATUS,
            "what_works": state_list("What works today."),
            "what_is_blocked": state_list("What is blocked."),
            "open_questions": state_list("Open questions."),
            "next_session_starts_here": HANDOFF,
            "expected_version": {"type": "integer", "minimum": 1, "description": "The version you read."},
        },
        "required": ["product_name"],
    },
)
def update_product_state(context: ToolContext, args: dict) -> dict:
    active = context.writable()
    fields = {k: v for k, v in args.items() if k not in ("product_name", "expected_version")}
    changes = validated(ProductStateWriteSerializer, fields)
    if_match = IfMatch.version(args["expected_version"]) if "expected_version" in args else None
    refuse_after_fallback(active, if_match)
    product, created = product_state_write(
        space=active.space, name=product_name_argument(args), changes=changes, if_match=if_match
    )
    # Without memory:read only what the call set comes back, as on REST (product_write_body).
    answer = product_write_body(product, active.scope, changes=changes, allows=context.allows)
    return {**answer, "created": created}
