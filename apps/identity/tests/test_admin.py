"""The admin shows kernels (with their block) and revisions, read-only."""

from __future__ import annotations

import pytest

from apps.identity.models import Kernel, KernelRevision
from apps.scopes.services import workspace_create
from synchronex.api import stamps

URL = "/api/v1/memory/identity"


@pytest.mark.django_db
def test_admin_lists_and_shows_kernels_and_revisions_read_only(admin_client, inproc_for, user):
    inproc_for(user).put(URL, {"constraints": {"never": ["Guess <wildly>"]}}, format="json")
    kernel = Kernel.objects.get(space__owner=user)
    revision = KernelRevision.objects.get(kernel=kernel)

    assert admin_client.get("/admin/identity/kernel/").status_code == 200
    page = admin_client.get(f"/admin/identity/kernel/{kernel.id}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "## Never" in html and "- Guess &lt;wildly&gt;" in html
    assert f'<div class="readonly">{kernel.injection_tokens}</div>' in html
    assert 'name="identity"' not in html  # nothing is editable

    assert admin_client.get("/admin/identity/kernelrevision/").status_code == 200
    assert admin_client.get(f"/admin/identity/kernelrevision/{revision.id}/change/").status_code == 200
    assert admin_client.get("/admin/identity/kernel/add/").status_code == 403


@pytest.mark.django_db
def test_a_kernel_is_not_deleted_in_the_admin_so_its_etag_and_block_stay_its_own(admin_client, inproc_for, make_user):
    # The audit's case: a workspace layer deleted here and written anew was at version 1 again,
    # so an old If-Match matched it and the cached effective block still showed the old rules.
    owner = make_user(tier="team")
    workspace = workspace_create(owner=owner, name="Studio", kind="team")
    api = inproc_for(owner)
    header = {"HTTP_X_SYNCHRONEX_SCOPE": str(workspace.pk)}
    assert api.put(URL, {"constraints": {"never": ["Rule one"]}}, format="json", **header)["ETag"] == '"1"'
    kernel = Kernel.objects.get(space=workspace)

    delete = f"/admin/identity/kernel/{kernel.pk}/delete/"
    assert admin_client.get(delete).status_code == 403
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    selected = {"action": "delete_selected", "_selected_action": [str(kernel.pk)], "post": "yes"}
    admin_client.post("/admin/identity/kernel/", selected)
    assert Kernel.objects.filter(pk=kernel.pk).exists()

    stamps.forget()
    answer = api.put(URL, {"constraints": {"never": ["Rule two"]}}, format="json", HTTP_IF_MATCH='"1"', **header)
    assert answer.status_code == 200 and answer["ETag"] == '"2"'
    stale = api.put(URL, {"constraints": {"never": ["x"]}}, format="json", HTTP_IF_MATCH='"1"', **header)
    assert stale.status_code == 412
    block = api.get(URL, **header).json()["injection_block"]
    assert "Rule two" in block and "Rule one" not in block
