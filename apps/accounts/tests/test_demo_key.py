"""``manage.py demo_key`` (``make run``'s banner): a key that works, or none."""

from io import StringIO

import pytest
from django.core.management import call_command

from apps.accounts.management.commands.demo_key import DEMO_EMAIL
from apps.accounts.models import User

pytestmark = pytest.mark.django_db


def _demo_key(var_dir, monkeypatch) -> tuple[str, str]:
    monkeypatch.setenv("SYNCHRONEX_VAR_DIR", str(var_dir))
    out, err = StringIO(), StringIO()
    call_command("demo_key", stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue()


@pytest.mark.parametrize("key_file", ["missing", "kept"])
def test_a_deactivated_demo_account_is_reactivated_and_its_key_works(api, tmp_path, monkeypatch, key_file):
    # It crashed with a traceback (no key file: make run aborted) or printed a key the API refused.
    first, _ = _demo_key(tmp_path, monkeypatch)
    User.objects.filter(email=DEMO_EMAIL).update(is_active=False)
    if key_file == "missing":
        (tmp_path / "demo-api-key").unlink()

    key, said = _demo_key(tmp_path, monkeypatch)

    assert "reactivated" in said
    assert User.objects.get(email=DEMO_EMAIL).is_active
    assert (key == first) is (key_file == "kept")
    assert api.get("/api/v1/scope", token=key).status_code == 200


def test_an_empty_var_dir_keeps_the_key_under_var(tmp_path, monkeypatch, settings):
    # It was written to the current directory's demo-api-key.
    settings.BASE_DIR = tmp_path
    monkeypatch.chdir(tmp_path)
    key, _ = _demo_key("", monkeypatch)
    assert (tmp_path / "var" / "demo-api-key").read_text().strip() == key
    assert not (tmp_path / "demo-api-key").exists()
