"""Layering of a workspace kernel on a personal one (SPEC §3)."""

from __future__ import annotations

import json
from datetime import UTC

from hypothesis import given, settings
from hypothesis import strategies as st

from apps.identity.api.serializers import KernelSerializer, kernel_body
from apps.identity.layers import IDENTITY_FIELDS, empty_kernel, kernel_merge
from apps.identity.selectors import EffectiveKernel

PERSONAL = {
    "identity": {"name": "Ada", "role": "Founder", "timezone": "Europe/London"},
    "products": [{"name": "Personal app"}],
    "constraints": {"always": ["Cite sources", "Be brief"], "never": ["Guess"], "communication_style": "casual"},
    "model_preferences": {"providers": ["p1"], "default_model": "small", "routing": {"code": "coder"}},
}
WORKSPACE = {
    "identity": {"role": "Consultant", "company": "Agency"},
    "products": [{"name": "Client site"}, {"name": "Client app"}],
    "constraints": {"always": ["Be brief", "Use British English"], "never": ["Share client data", "Guess"]},
    "model_preferences": {"default_model": "large"},
}


def test_no_layers_merge_to_an_empty_kernel():
    assert kernel_merge(None, None) == empty_kernel()


def test_personal_layer_alone_is_the_effective_kernel():
    assert kernel_merge(PERSONAL, None) == PERSONAL


def test_workspace_layer_alone_is_the_effective_kernel():
    merged = kernel_merge(None, WORKSPACE)
    assert merged["identity"] == WORKSPACE["identity"]
    assert merged["constraints"] == {
        "always": ["Be brief", "Use British English"],
        "never": ["Share client data", "Guess"],
    }


def test_workspace_scalars_override_personal_ones_only_when_set():
    merged = kernel_merge(PERSONAL, WORKSPACE)
    assert merged["identity"] == {"name": "Ada", "role": "Consultant", "company": "Agency", "timezone": "Europe/London"}
    assert merged["constraints"]["communication_style"] == "casual"
    assert merged["model_preferences"] == {"providers": ["p1"], "default_model": "large", "routing": {"code": "coder"}}


def test_always_and_never_accumulate_personal_first_without_duplicates():
    merged = kernel_merge(PERSONAL, WORKSPACE)
    assert merged["constraints"]["always"] == ["Cite sources", "Be brief", "Use British English"]
    assert merged["constraints"]["never"] == ["Guess", "Share client data"]


def test_products_come_from_the_workspace_when_it_has_any():
    assert kernel_merge(PERSONAL, WORKSPACE)["products"] == WORKSPACE["products"]
    assert kernel_merge(PERSONAL, {**WORKSPACE, "products": None})["products"] == PERSONAL["products"]
    assert kernel_merge(PERSONAL, {**WORKSPACE, "products": []})["products"] == PERSONAL["products"]


def test_empty_workspace_values_do_not_hide_personal_ones():
    workspace = {"identity": {"name": ""}, "constraints": {"communication_style": ""}, "model_preferences": {}}
    merged = kernel_merge(PERSONAL, workspace)
    assert merged["identity"]["name"] == "Ada"
    assert merged["constraints"]["communication_style"] == "casual"
    assert merged["model_preferences"] == PERSONAL["model_preferences"]


def test_routing_is_one_model_preferences_key_replaced_whole():
    workspace = {"model_preferences": {"routing": {"chat": "fast"}}}
    assert kernel_merge(PERSONAL, workspace)["model_preferences"]["routing"] == {"chat": "fast"}


def test_merge_does_not_mutate_its_inputs():
    personal = {"constraints": {"always": ["a"]}}
    workspace = {"constraints": {"always": ["b"]}}
    kernel_merge(personal, workspace)
    assert personal == {"constraints": {"always": ["a"]}} and workspace == {"constraints": {"always": ["b"]}}


# --- the read shape: kernel_body is KernelSerializer's output without running it ---------------
_TEXT = st.text(min_size=1, max_size=8)


def _section(keys, value=_TEXT):
    return st.one_of(st.none(), st.dictionaries(st.sampled_from(keys), value, min_size=1))


_STORED_SECTIONS = st.fixed_dictionaries(
    {
        "identity": _section(IDENTITY_FIELDS),
        "products": st.one_of(
            st.none(),
            st.lists(
                st.fixed_dictionaries({"name": _TEXT}, optional=dict.fromkeys(("status", "summary", "url"), _TEXT)),
                min_size=1,
                max_size=3,
            ),
        ),
        "constraints": st.one_of(
            st.none(),
            st.fixed_dictionaries(
                {},
                optional={
                    "always": st.lists(_TEXT, min_size=1, max_size=3),
                    "never": st.lists(_TEXT, min_size=1, max_size=3),
                    "communication_style": _TEXT,
                },
            ).filter(bool),
        ),
        "model_preferences": st.one_of(
            st.none(),
            st.fixed_dictionaries(
                {},
                optional={
                    "providers": st.lists(_TEXT, min_size=1, max_size=3),
                    "default_model": _TEXT,
                    "routing": st.dictionaries(_TEXT, _TEXT, min_size=1, max_size=3),
                },
            ).filter(bool),
        ),
    }
)


@settings(max_examples=200, deadline=None)
@given(sections=_STORED_SECTIONS, updated_at=st.one_of(st.none(), st.datetimes(timezones=st.just(UTC))))
def test_kernel_body_is_what_the_response_serializer_produces(sections, updated_at):
    effective = EffectiveKernel(sections, "block", 3, False, 2, updated_at)
    expected = KernelSerializer(
        {
            **sections,
            "injection_block": "block",
            "injection_tokens": 3,
            "truncated": False,
            "version": 2,
            "updated_at": updated_at,
            "scope": "team",
        }
    ).data
    body = kernel_body(effective, "team")
    assert json.dumps(body) == json.dumps(expected)  # same values, same key order
