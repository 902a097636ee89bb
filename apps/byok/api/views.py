"""BYOK endpoints (SPEC §9): list, create, delete. The key goes in once and never comes out.

Only creating needs the plan with BYOK: listing and deleting work on any plan, so a downgrade
locks no credential away (README "AI costs and BYOK"). Below that plan a space keeps its
credentials stored but unused (``apps.byok.services.usable_credentials``)."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.response import Response

from apps.byok import selectors, services
from apps.byok.api.serializers import (
    ByokCreatedSerializer,
    ByokCreateSerializer,
    ByokCredentialSerializer,
    ByokPageSerializer,
)
from apps.byok.shapes import KEY_SHAPES
from synchronex.api.openapi import location_header
from synchronex.api.pagination import PAGE_PARAMETERS, Page
from synchronex.api.serializers import ErrorSerializer
from synchronex.api.views import ApiView

ANY_PLAN = (
    "Works on any plan: credentials stored on the pro plan stay listable and deletable after a "
    "downgrade. While the scope's plan (a workspace's: its owner's) is below pro they are kept but "
    "used for no call; an upgrade brings them back into use."
)
CREATE_DESCRIPTION = (
    "Stores a provider key encrypted at rest (Fernet). The response and every later read show only "
    '`key_hint` ("…" and the last four characters). Needs the pro plan (in a workspace, its '
    "owner's) → else TIER_REQUIRED; listing and deleting do not.\n\n"
    "- `label`: trimmed (invisible characters at its ends too), 1–100 characters, no control, bidi or "
    "invisible characters (as product names), unique per service in the scope (case-insensitive) → "
    "else CONFLICT.\n"
    "- The same key stored twice in the scope → CONFLICT (detected by a keyed fingerprint).\n"
    "- At most 20 credentials per scope: the 21st → CONFLICT with `details.limit`.\n"
    "- `base_url`: required for `openai_compatible` and refused for every other service; https, or "
    "plain http only for loopback hosts; no credentials, query or fragment.\n\n"
    "Key shapes per service (at most 512 characters, no whitespace):\n"
    + "\n".join(f"- `{service}`: {shape}" for service, (_, shape) in KEY_SHAPES.items())
)


class ByokListView(ApiView):
    """``GET``/``POST /byok``."""

    required_scopes = {"GET": "byok:read", "POST": "byok:write"}
    required_tier = {"POST": services.BYOK_TIER}

    @extend_schema(
        tags=["byok"],
        summary="List provider credentials",
        operation_id="byok_list",
        description=f"The scope's credentials, oldest first, paged. Keys are never shown. {ANY_PLAN}",
        responses={200: ByokPageSerializer},
        parameters=PAGE_PARAMETERS,
    )
    def get(self, request):
        page = Page.from_request(request)
        active = self.active
        body = page.of(selectors.byok_credential_list(space=active.space), ByokCredentialSerializer)
        return Response({"scope": active.scope, **body})

    @extend_schema(
        tags=["byok"],
        summary="Add a provider credential",
        operation_id="byok_create",
        description=CREATE_DESCRIPTION,
        request=ByokCreateSerializer,
        parameters=[
            location_header(
                "The credential's URL, `/api/v1/byok/{id}` (the one `DELETE` takes).",
            )
        ],
        responses={
            201: ByokCreatedSerializer,
            409: OpenApiResponse(ErrorSerializer, description="Duplicate label or key, or 20 credentials already."),
        },
    )
    def post(self, request):
        active = self.writable_space()
        serializer = ByokCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        credential = services.byok_credential_create(space=active.space, **serializer.validated_data)
        body = ByokCreatedSerializer(credential, context={"scope": active.scope}).data
        location = reverse("byok-detail", kwargs={"credential_id": credential.pk})
        return Response(body, status=201, headers={"Location": location})


class ByokDetailView(ApiView):
    """``DELETE /byok/{id}``."""

    required_scopes = {"DELETE": "byok:write"}

    @extend_schema(
        tags=["byok"],
        summary="Delete a provider credential",
        operation_id="byok_delete",
        description="Deletes the credential and its encrypted key. Unknown ids and other scopes' ids → NOT_FOUND; "
        f"a workspace's viewers → FORBIDDEN. {ANY_PLAN}",
        responses={204: None},
    )
    def delete(self, request, credential_id: str):
        active = self.writable_space()
        services.byok_credential_delete(space=active.space, credential_id=credential_id)
        return Response(status=204)
