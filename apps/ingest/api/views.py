"""``POST /ingest/{project_id}`` (SPEC §9)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework.response import Response

from apps.ingest.api.serializers import (
    BATCH_MAX,
    OUTCOMES,
    SUMMARY_MAX,
    IngestResponseSerializer,
    SignalBatchSerializer,
    SignalSerializer,
)
from apps.ingest.services import signals_ingest
from synchronex.api import errors
from synchronex.api.openapi import PRODUCT_NAME
from synchronex.api.raw_path import name_from_path
from synchronex.api.serializers import ErrorSerializer
from synchronex.api.views import ApiView

DESCRIPTION = (
    'Send one signal, or `{"signals": [...]}` with 1–'
    f"{BATCH_MAX}. The product is named by `project_id` (a product id of the active scope, or a product "
    "name, URL-encoded; a name is created when missing). **A batch is atomic**: if one signal is invalid "
    "(`VALIDATION_ERROR` naming it, e.g. `signals[3].data.model`) or cannot be stored, none is stored. "
    "`decision` signals create a decision (they need the `decisions:write` scope: a token without it is "
    "`FORBIDDEN` for a body holding one, and nothing is stored) and `ai_usage` signals a cost event at "
    "once (status `applied`); "
    "the others are `pending` until the next consolidation applies them to the product state "
    "(`POST /memory/consolidate`). An `external_id` already stored for the product is not stored again "
    "(`duplicate`, counted in `duplicates`, with the id of the signal stored first).\n\n"
    "Per type (the `SignalRequest` schema states each rule): `blocker`, `unblocked`, `question`, `error`, "
    "`release`, `deploy`, `ci` and `decision` need a `title`; `commit`, `issue` and `note` a `title` or a "
    f"`body`. `ci` needs `data.outcome` ({' | '.join(OUTCOMES)}; optional on a `deploy`, with the same values); "
    "`deploy` and `release` take an optional `data.status` (a product status). `session_summary` needs a "
    f"`body` of at most {SUMMARY_MAX:,} characters, and takes `data.next_session_starts_here` (at most "
    f"{SUMMARY_MAX:,}). A `decision`'s `data` holds only `tags`, `affects_products`, `alternatives` and "
    "`supersedes` (`DecisionDataRequest`); an `ai_usage` signal needs `data` with `provider`, `model`, "
    "`input_tokens` and `output_tokens`, and takes only `cost_usd` and `operation` besides "
    '(`AiUsageDataRequest`). Another key in the `data` of those two is a `VALIDATION_ERROR` ("Unknown '
    "field.\"); the other types' `data` is kept as sent."
)


class IngestView(ApiView):
    required_scopes = {"POST": "memory:write"}
    required_tier = "pro"

    @extend_schema(
        tags=["ingest"],
        summary="Ingest project signals",
        description=DESCRIPTION,
        parameters=[
            OpenApiParameter(
                "project_id",
                PRODUCT_NAME,  # a product id is a name the rule takes too
                OpenApiParameter.PATH,
                description="A product id, or a product name (URL-encoded, ≤ 100 characters, case-insensitive).",
            )
        ],
        request=PolymorphicProxySerializer(
            component_name="IngestBody",
            serializers=[SignalSerializer, SignalBatchSerializer],
            resource_type_field_name=None,
        ),
        responses={
            202: IngestResponseSerializer,
            409: OpenApiResponse(
                ErrorSerializer,
                description="A `decision` signal's `supersedes` names a decision already superseded "
                "(`details.fields` names it); nothing is stored.",
            ),
        },
    )
    def post(self, request, project_id: str):
        project_id = name_from_path(request, project_id, field="project_id")
        active = self.writable_space()
        body = request.data
        batch = isinstance(body, dict) and "signals" in body
        serializer = (SignalBatchSerializer if batch else SignalSerializer)(data=body)
        serializer.is_valid(raise_exception=True)
        signals = serializer.validated_data["signals"] if batch else [serializer.validated_data]
        if any(signal["type"] == "decision" for signal in signals) and not request.auth.allows("decisions:write"):
            # A decision signal records a decision (and may supersede one): the scope every other
            # way of writing decisions needs.
            raise errors.InsufficientScope(
                "Decision signals need the 'decisions:write' scope.", scopes=["decisions:write"]
            )
        result = signals_ingest(space=active.space, project_id=project_id, signals=signals, batch=batch)
        payload = {
            "accepted": result.accepted,
            "duplicates": result.duplicates,
            "product": {"id": result.product.pk, "name": result.product.name},
            "signals": result.signals,
            "scope": active.scope,
        }
        return Response(IngestResponseSerializer(payload).data, status=202)
