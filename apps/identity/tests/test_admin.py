"""The admin shows kernels (with their block) and revisions, read-only."""

from __future__ import annotations

import pytest

from apps.identity.models import Kernel, KernelRevision

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
