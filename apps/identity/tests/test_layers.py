"""Layering of a workspace kernel on a personal one (SPEC §3)."""

from __future__ import annotations

from apps.identity.layers import empty_kernel, kernel_merge

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
