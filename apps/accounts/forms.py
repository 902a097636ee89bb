import secrets

from django import forms
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.core import signing
from django.core.cache import cache

from apps.accounts.models import ApiKey, User
from apps.accounts.services import key_name_problem
from apps.products.names import trim_name


def clean_key_name(name: str) -> str:
    """``name`` trimmed as ``api_key_create`` trims it, if it would take it; else the error shown
    beside the field (not an error page), by the keys page and the admin alike."""
    name = trim_name(name)
    if problem := key_name_problem(name):
        raise forms.ValidationError(problem)
    return name


# The keys page's form carries a one-time token: a refresh of the page that answered it, "Resubmit?"
# confirmed or a double click sends it again, and a second send must not make a second live key
# whose value nobody saw. Spent tokens are remembered (an atomic cache ``add``, so two sends at
# once cannot both pass) for as long as a token is taken at all.
FORM_TOKEN_MAX_AGE = 24 * 60 * 60
FORM_SENT_TWICE = (
    "This form was already sent, so no other key was made. The key it made is listed below; its value "
    "was shown once, in the answer to the first send. If you did not copy it, revoke it and create another."
)
FORM_OUT_OF_DATE = "This form is out of date, so no key was made: send it again."
_form_tokens = signing.TimestampSigner(salt="apps.accounts.forms.ApiKeyCreateForm")


def key_form_token(user) -> str:
    """A fresh one-time token for ``user``'s keys page form (``ApiKeyCreateForm`` takes it once,
    from that account only: another's would spend it and leave its page saying a key was made)."""
    return _form_tokens.sign(f"{user.pk}:{secrets.token_urlsafe(16)}")


def _spend_key_form_token(token: str, user) -> None:
    try:
        owner, _, nonce = _form_tokens.unsign(token, max_age=FORM_TOKEN_MAX_AGE).partition(":")
    except signing.BadSignature:  # also an expired one
        raise forms.ValidationError(FORM_OUT_OF_DATE) from None
    if user is None or owner != str(user.pk):
        raise forms.ValidationError(FORM_OUT_OF_DATE)
    if not cache.add(f"accounts:key-form:{nonce}", 1, FORM_TOKEN_MAX_AGE + 60):
        raise forms.ValidationError(FORM_SENT_TWICE)


class ApiKeyCreateForm(forms.Form):
    """The keys page's form. Valid only once per token (``key_form_token``, posted as ``once``):
    the token is spent when everything else is valid, so a form sent back with a mistake is sent
    again with the page's new token."""

    name = forms.CharField(max_length=100, strip=True)
    scope = forms.ChoiceField(choices=ApiKey.Scope.choices, initial=ApiKey.Scope.READ)
    expires_in_days = forms.IntegerField(
        label="Expires in (days)",
        required=False,
        min_value=1,
        max_value=3650,
        help_text="Leave empty for a key that does not expire.",
    )

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_name(self) -> str:
        return clean_key_name(self.cleaned_data["name"])

    def clean(self):
        cleaned = super().clean()
        if not self.errors:
            _spend_key_form_token(self.data.get("once") or "", self.user)
        return cleaned


class ApiKeyAdminForm(forms.ModelForm):
    """The admin's key form: staff may rename a key, within the rule the owner's pages keep."""

    class Meta:
        model = ApiKey
        fields = ["name"]

    def clean_name(self) -> str:
        return clean_key_name(self.cleaned_data["name"])


EMAIL_TAKEN = "An account with this email already exists."


class AccountEmailMixin:
    """The admin's user forms: the address stored as every other path stores it (NFC, lower case,
    ``User.normalize_username``), its rule checked by the model field (``apps.accounts.emails``), and
    one already taken in another case refused beside the field, not as the case-insensitive
    constraint's name."""

    def clean_email(self) -> str:
        email = User.normalize_username(self.cleaned_data["email"])
        if User.objects.by_email(email).exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError(EMAIL_TAKEN)
        return email


class UserAdminChangeForm(AccountEmailMixin, UserChangeForm):
    pass


class UserAdminCreationForm(AccountEmailMixin, AdminUserCreationForm):
    pass
