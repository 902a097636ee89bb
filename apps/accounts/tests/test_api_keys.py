"""API keys: format, storage, the operator command and the browser page."""

import base64
import hashlib
import re
import unicodedata
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.accounts.models import ApiKey, User
from apps.accounts.services import api_key_create
from apps.scopes.models import Space

KEY_RE = re.compile(r"^sx_live_[A-Za-z0-9_-]{43}$")


@pytest.mark.django_db
def test_key_format_and_storage(make_user):
    user = make_user()
    key, raw = api_key_create(user=user, name="laptop", scope="write")
    assert KEY_RE.match(raw)
    assert len(base64.urlsafe_b64decode(raw[8:] + "=")) == 32
    stored = ApiKey.objects.get(pk=key.pk)
    assert stored.digest == hashlib.sha256(raw.encode()).hexdigest()
    assert stored.prefix == raw[:14]
    row = ApiKey.objects.filter(pk=key.pk).values().get()
    assert raw not in {str(v) for v in row.values()}


@pytest.mark.django_db
def test_every_user_gets_a_personal_space(make_user):
    user = make_user()
    assert Space.objects.filter(owner=user, kind="personal").count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("name,scope", [("", "read"), ("x" * 101, "read"), ("ok", "admin")])
def test_bad_key_input_is_refused(make_user, name, scope):
    from synchronex.api.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        api_key_create(user=make_user(), name=name, scope=scope)


# A bidi override with a bell (the prober's), a tab, a newline, NUL, DEL and a C1 control: the rule
# of workspace and product names and BYOK labels (``has_control_character``).
CONTROL_NAMES = ["x\u202e\u0007", "tab\there", "new\nline", "nul\x00x", "del\x7fx", "c1\x85x"]


@pytest.mark.django_db
@pytest.mark.parametrize("name", CONTROL_NAMES)
def test_a_key_name_with_a_control_character_is_refused_by_the_service(make_user, name):
    from synchronex.api.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as refused:
        api_key_create(user=make_user(), name=name, scope="read")
    assert refused.value.details["fields"] == {"name": ["A key name may not contain control characters."]}
    assert not ApiKey.objects.exists()


@pytest.mark.parametrize("name", CONTROL_NAMES)
def test_the_key_form_refuses_a_name_with_a_control_character(name):
    from apps.accounts.forms import ApiKeyCreateForm

    form = ApiKeyCreateForm({"name": name, "scope": "read"})
    assert not form.is_valid()
    # Django's own check refuses NUL first, with its own message.
    expected = (
        "Null characters are not allowed." if "\x00" in name else "A key name may not contain control characters."
    )
    assert form.errors["name"] == [expected]


# Invisible and reordering characters and line separators: the rule of workspace and product names
# and BYOK labels (``format_character_problem``, ``line_break_problem``). A key name is shown on the
# keys page and in the admin, where "invoice\u202efdp.exe" reads as "invoiceexe.pdf".
INVISIBLE = "it is invisible or reorders text."
INVISIBLE_NAMES = {
    "zero\u200bwidth": f"A key name may not contain U+200B (zero width space): {INVISIBLE}",
    "invoice\u202efdp.exe": f"A key name may not contain U+202E (right-to-left override): {INVISIBLE}",
    "two\u2028lines": "A key name may not contain U+2028 (line separator): a name is one line.",
}


@pytest.mark.django_db
@pytest.mark.parametrize("name", INVISIBLE_NAMES)
def test_a_key_name_with_an_invisible_character_is_refused_everywhere(client, make_user, staff, name):
    from apps.accounts.forms import ApiKeyCreateForm
    from synchronex.api.errors import ValidationFailed

    user = make_user()
    with pytest.raises(ValidationFailed) as refused:
        api_key_create(user=user, name=name, scope="read")
    assert refused.value.details["fields"] == {"name": [INVISIBLE_NAMES[name]]}
    assert ApiKeyCreateForm({"name": name, "scope": "read"}).errors["name"] == [INVISIBLE_NAMES[name]]
    with pytest.raises(CommandError, match=re.escape(INVISIBLE_NAMES[name])):
        call_command("create_api_key", "--email", user.email, "--scope", "read", "--name", name, stdout=StringIO())
    assert not ApiKey.objects.exists()
    key, _ = api_key_create(user=user, name="laptop", scope="read")
    response = staff.post(f"/admin/accounts/apikey/{key.pk}/change/", {"name": name})
    assert response.status_code == 200 and INVISIBLE_NAMES[name] in response.content.decode()
    assert ApiKey.objects.get(pk=key.pk).name == "laptop"


@pytest.mark.django_db
def test_invisible_characters_at_a_key_names_ends_are_trimmed(make_user):
    from apps.accounts.forms import ApiKeyCreateForm
    from synchronex.api.errors import ValidationFailed

    assert api_key_create(user=make_user(), name="\ufeff laptop\u200b ", scope="read")[0].name == "laptop"
    form = ApiKeyCreateForm({"name": "\u200blaptop\u2060", "scope": "read"})
    form.is_valid()
    assert "name" not in form.errors and form.cleaned_data["name"] == "laptop"
    with pytest.raises(ValidationFailed):
        api_key_create(user=make_user(), name="\u200b\u200b", scope="read")
    assert "name" in ApiKeyCreateForm({"name": "\u200b", "scope": "read"}).errors


@pytest.mark.django_db
def test_the_settings_page_and_the_command_refuse_a_name_with_a_control_character(client, make_user):
    user = make_user()
    client.force_login(user)
    response = client.post("/settings/keys", {"name": "x\u202e\u0007", "scope": "read"})
    assert response.status_code == 200
    assert "A key name may not contain control characters." in response.content.decode()
    with pytest.raises(CommandError, match="control characters"):
        call_command(
            "create_api_key", "--email", user.email, "--scope", "read", "--name", "bell\x07", stdout=StringIO()
        )
    assert not ApiKey.objects.exists()
    # Printable names, any script, are kept as typed.
    assert api_key_create(user=user, name="Ноутбук — 東京 ✓", scope="read")[0].name == "Ноутбук — 東京 ✓"


@pytest.mark.django_db
def test_a_refused_key_name_leaves_no_user_or_plan_change_behind(make_user):
    with pytest.raises(CommandError, match="control characters"):
        call_command(
            "create_api_key", "--email", "new@example.com", "--scope", "read", "--create-user", "--name", "bell\x07"
        )
    assert not User.objects.filter(email="new@example.com").exists()
    existing = make_user(tier="free")
    with pytest.raises(CommandError, match="1 to 100 characters"):
        call_command("create_api_key", "--email", existing.email, "--scope", "read", "--tier", "team", "--name", " ")
    existing.refresh_from_db()
    assert existing.tier == "free"


@pytest.mark.django_db
def test_command_creates_user_and_prints_only_the_key():
    out = StringIO()
    call_command(
        "create_api_key",
        "--email",
        "Ops@Example.com",
        "--scope",
        "write",
        "--create-user",
        "--tier",
        "team",
        stdout=out,
    )
    raw = out.getvalue().strip()
    assert KEY_RE.match(raw)
    user = User.objects.get(email="ops@example.com")
    assert user.tier == "team"
    key = ApiKey.objects.get(user=user)
    assert (key.scope, key.name) == ("write", "CLI key")
    assert Space.objects.filter(owner=user, kind="personal").exists()


@pytest.mark.parametrize(
    ("email", "reason"),
    [
        ("notanemail", "one @ with text on both sides"),
        ("still not an email", "one @ with text on both sides"),
        ("a b@x.test", "one @ with text on both sides"),
        ("x@y@z", "one @ with text on both sides"),
        ("bell\x07@x.test", "one @ with text on both sides"),
        ("", "may not be blank"),  # was a traceback (ValueError)
        ("   ", "may not be blank"),
        ("b" * 250 + "@x.test", "no more than 254 characters"),  # was a traceback (DataError)
        ("new@x.test\u200b", "U\\+200B"),  # invisible: another account that looks the same
        ("\ufeffnew@x.test", "U\\+FEFF"),
    ],
    ids=["no-at", "words", "space", "two-at", "control", "empty", "blank", "too-long", "zwsp", "bom"],
)
def test_command_refuses_to_create_a_user_the_api_could_never_reach(client_for, make_user, email, reason):
    # The rule of the workspace-members API, which looks accounts up by email: an account it refuses
    # could never be added to a workspace.
    with pytest.raises(CommandError, match=reason) as refused:
        call_command("create_api_key", "--email", email, "--scope", "read", "--create-user", stdout=StringIO())
    assert "\n" not in str(refused.value) and str(refused.value).startswith("--email: ")
    assert not User.objects.exists()
    owner = client_for(make_user(tier="team"))
    workspace = owner.post("/api/v1/workspaces", json={"name": "Ops", "kind": "team"}).json()["id"]
    answer = owner.post(f"/api/v1/workspaces/{workspace}/members", json={"email": email, "role": "member"})
    assert answer.status_code == 400  # the same refusal


def test_command_creates_a_user_with_any_address_the_api_accepts(client_for, make_user):
    out = StringIO()
    call_command("create_api_key", "--email", "  jürgen@exämple.test ", "--scope", "read", "--create-user", stdout=out)
    assert KEY_RE.match(out.getvalue().strip())
    owner = client_for(make_user(tier="team"))
    workspace = owner.post("/api/v1/workspaces", json={"name": "Ops", "kind": "team"}).json()["id"]
    added = owner.post(
        f"/api/v1/workspaces/{workspace}/members", json={"email": "JÜRGEN@exämple.test", "role": "member"}
    )
    assert added.status_code == 201, added.text


def test_an_account_with_a_254_character_address_works_from_the_command_and_from_createsuperuser(api, monkeypatch):
    # The longest address accounts take (Django's EmailField, the members rule). Its personal space
    # was named after it in a 200-character column: a traceback from the command, and for an
    # account made without its space (createsuperuser, the admin) a 500 on every API request.
    made, lazy = ("a" * 244 + "@x.test.io"), ("b" * 244 + "@x.test.io")
    assert len(made) == len(lazy) == 254
    out = StringIO()
    call_command("create_api_key", "--email", made, "--scope", "write", "--create-user", stdout=out)
    tokens = [out.getvalue().strip()]
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "correct horse battery staple 42")
    call_command("createsuperuser", "--noinput", "--email", lazy, stdout=StringIO())
    assert not Space.objects.filter(owner__email=lazy).exists()
    out = StringIO()
    call_command("create_api_key", "--email", lazy, "--scope", "write", stdout=out)
    tokens.append(out.getvalue().strip())
    for token in tokens:
        for path in ("/api/v1/scope", "/api/v1/memory/identity"):
            response = api.get(path, token=token)
            assert response.status_code == 200, (path, response.text)
    assert Space.objects.filter(owner__email__in=[made, lazy], kind="personal").count() == 2


@pytest.mark.django_db
def test_command_finds_an_account_by_its_email_in_nfd(make_user):
    user = make_user(email="jürgen@ex.com")
    decomposed = unicodedata.normalize("NFD", "jürgen@ex.com")
    call_command("create_api_key", "--email", decomposed, "--scope", "read", "--create-user", stdout=StringIO())
    assert list(User.objects.values_list("email", flat=True)) == ["jürgen@ex.com"]
    assert ApiKey.objects.get().user == user


@pytest.mark.django_db
def test_command_for_an_existing_user_with_name_and_tier(make_user):
    user = make_user(tier="free")
    out = StringIO()
    call_command("create_api_key", "--email", user.email.upper(), "--scope", "read", "--name", "CI", stdout=out)
    assert ApiKey.objects.get(user=user).name == "CI"
    call_command("create_api_key", "--email", user.email, "--scope", "read", "--tier", "pro", stdout=StringIO())
    user.refresh_from_db()
    assert user.tier == "pro"


@pytest.mark.django_db
def test_command_refuses_an_unknown_user_without_create_user():
    with pytest.raises(CommandError, match="--create-user"):
        call_command("create_api_key", "--email", "ghost@example.com", "--scope", "read", stdout=StringIO())


def test_command_key_works_against_the_api(api):
    out = StringIO()
    call_command("create_api_key", "--email", "cli@example.com", "--scope", "read", "--create-user", stdout=out)
    assert api.get("/api/v1/scope", token=out.getvalue().strip()).status_code == 200


@pytest.mark.django_db
def test_settings_page_requires_login(client):
    response = client.get("/settings/keys")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def form_token(browser) -> str:
    """The one-time token of the keys page's form, as a browser reads it from the page."""
    return re.search(r'name="once" value="([^"]+)"', browser.get("/settings/keys").content.decode()).group(1)


def test_settings_page_creates_shows_once_lists_and_revokes(api, make_user):
    from django.test import Client

    user = make_user()
    browser = Client()
    browser.force_login(user)
    created = browser.post(
        "/settings/keys",
        {"name": "Claude Desktop", "scope": "write", "expires_in_days": "", "once": form_token(browser)},
    )
    assert created.status_code == 200
    raw = re.search(r'id="new-key-value">(sx_live_[^<]+)<', created.content.decode()).group(1)
    assert "no-store" in created["Cache-Control"]
    assert api.get("/api/v1/scope", token=raw).status_code == 200

    listing = browser.get("/settings/keys").content.decode()
    assert "Claude Desktop" in listing and raw[:14] in listing
    assert raw not in listing  # shown once only

    key = ApiKey.objects.get(user=user)
    assert browser.post(f"/settings/keys/{key.id}/revoke").status_code == 302
    assert api.get("/api/v1/scope", token=raw).status_code == 401


def test_the_keys_page_and_the_login_page_are_never_stored(make_user):
    """The keys page sent no Cache-Control (only the answer with a new key did): after signing
    out, Back showed the key list from the browser's history cache."""
    from django.test import Client

    browser = Client()
    login_page = browser.get("/accounts/login/")
    assert "no-store" in login_page["Cache-Control"] and "private" in login_page["Cache-Control"]
    browser.force_login(make_user())
    listing = browser.get("/settings/keys")
    assert listing.status_code == 200
    assert "no-store" in listing["Cache-Control"] and "private" in listing["Cache-Control"]


def test_settings_page_cannot_revoke_someone_elses_key(make_user, make_key):
    from django.test import Client

    owner, intruder = make_user(), make_user()
    make_key(owner)
    key = ApiKey.objects.get(user=owner)
    browser = Client()
    browser.force_login(intruder)
    browser.post(f"/settings/keys/{key.id}/revoke")
    key.refresh_from_db()
    assert key.revoked_at is None


@pytest.mark.django_db
def test_settings_page_rejects_bad_input(client, make_user):
    client.force_login(make_user())
    response = client.post("/settings/keys", {"name": "", "scope": "root", "expires_in_days": "-3"})
    assert response.status_code == 200
    assert not ApiKey.objects.exists()
    assert "sx_live_" not in response.content.decode()


@pytest.mark.django_db
def test_the_key_forms_errors_name_the_fields_as_the_page_labels_them(client, make_user):
    client.force_login(make_user())
    response = client.post("/settings/keys", {"name": "", "scope": "read", "expires_in_days": "4000"})
    error = re.search(r'<p class="error">(.*?)</p>', response.content.decode(), re.S).group(1)
    assert "Name: This field is required." in error
    assert "Expires in (days): Ensure this value is less than or equal to 3650." in error
    assert "name:" not in error and "expires_in_days" not in error


@pytest.mark.django_db
def test_the_same_key_form_sent_again_makes_no_other_key(client, make_user, monkeypatch):
    from apps.accounts import forms

    user = make_user()
    client.force_login(user)
    form = {"name": "laptop", "scope": "write", "once": form_token(client)}
    first = client.post("/settings/keys", form).content.decode()
    assert 'id="new-key-value"' in first and forms.FORM_SENT_TWICE not in first
    again = client.post("/settings/keys", form).content.decode()  # a refresh, "Resubmit?" confirmed
    assert forms.FORM_SENT_TWICE in again and 'id="new-key-value"' not in again
    assert ApiKey.objects.filter(user=user).count() == 1
    # The answer's own form has a new token, which makes a key.
    fresh = re.search(r'name="once" value="([^"]+)"', again).group(1)
    assert fresh != form["once"]
    assert 'id="new-key-value"' in client.post("/settings/keys", {**form, "once": fresh}).content.decode()
    assert ApiKey.objects.filter(user=user).count() == 2

    # A form without its token, or with one altered or older than a day, makes nothing either.
    monkeypatch.setattr(forms, "FORM_TOKEN_MAX_AGE", -1)
    for once in (None, fresh + "x", form_token(client)):
        answer = client.post("/settings/keys", {**form, "once": once} if once else {**form, "once": ""})
        assert forms.FORM_OUT_OF_DATE in answer.content.decode()
    assert ApiKey.objects.filter(user=user).count() == 2


@pytest.mark.django_db
def test_a_key_form_token_is_spent_only_by_the_account_whose_page_it_came_from(client, make_user):
    from django.test import Client

    from apps.accounts import forms

    ada, bob = make_user(), make_user()
    client.force_login(ada)
    adas_token = form_token(client)
    other = Client()
    other.force_login(bob)
    answer = other.post("/settings/keys", {"name": "laptop", "scope": "write", "once": adas_token}).content.decode()
    assert forms.FORM_OUT_OF_DATE in answer and not ApiKey.objects.filter(user=bob).exists()
    # Ada's page still makes her key: Bob's attempt spent nothing.
    mine = client.post("/settings/keys", {"name": "laptop", "scope": "write", "once": adas_token}).content.decode()
    assert 'id="new-key-value"' in mine and ApiKey.objects.filter(user=ada).count() == 1


@pytest.mark.django_db
def test_settings_page_needs_csrf(make_user):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(make_user())
    assert browser.post("/settings/keys", {"name": "x", "scope": "read"}).status_code == 403
    assert not ApiKey.objects.exists()


@pytest.mark.parametrize("next_url", ["/accounts/login/", "/accounts/login/?next=/accounts/login/", ""])
def test_a_signed_in_user_sent_to_the_login_page_with_a_loop_goes_to_the_keys_page(client, make_user, next_url):
    # Django raises (a 500) rather than redirect a signed-in user to the page they are on.
    client.force_login(make_user())
    response = client.get("/accounts/login/", {"next": next_url} if next_url else {})
    assert response.status_code == 302 and response["Location"] == "/settings/keys"
    assert client.get("/accounts/login/", {"next": "/settings/keys"})["Location"] == "/settings/keys"


@pytest.mark.django_db
@pytest.mark.parametrize("flags", [[], ["--create-user", "--tier", "team"]], ids=["plain", "create-user"])
def test_command_refuses_a_deactivated_account(make_user, flags):
    # It printed a key (exit 0) that the API then called "Unknown or revoked".
    user = make_user(tier="free")
    User.objects.filter(pk=user.pk).update(is_active=False)
    out = StringIO()
    with pytest.raises(CommandError, match="is deactivated; reactivate it first") as refused:
        call_command("create_api_key", "--email", user.email, "--scope", "write", *flags, stdout=out)
    assert "\n" not in str(refused.value) and out.getvalue() == ""
    assert not ApiKey.objects.exists()
    user.refresh_from_db()
    assert user.tier == "free"


@pytest.mark.django_db
@pytest.mark.parametrize("email", ["İnga@x.test", "ẞig@x.test"])
def test_command_run_twice_with_an_address_lower_case_lengthens_finds_the_account(email):
    # Stored as Python lowers it (i + U+0307, ß); looked up through PostgreSQL's UPPER() the second
    # run found no account and crashed on the unique index.
    for _ in range(2):
        call_command("create_api_key", "--email", email, "--scope", "read", "--create-user", stdout=StringIO())
    user = User.objects.get()
    assert user.email == email.lower()
    assert ApiKey.objects.filter(user=user).count() == 2


@pytest.mark.django_db
def test_sign_in_with_an_address_lower_case_lengthens(client, make_user):
    make_user(email="İnga@x.test", password="correct horse battery staple 42")
    response = client.post(
        "/accounts/login/", {"username": "İNGA@X.test", "password": "correct horse battery staple 42"}
    )
    assert response.status_code == 302, response.content
