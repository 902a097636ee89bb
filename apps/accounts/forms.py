from django import forms

from apps.accounts.models import ApiKey
from apps.accounts.services import KEY_NAME_CONTROL_CHARACTERS
from apps.products.names import has_control_character


def clean_key_name(name: str) -> str:
    """``name`` if ``api_key_create`` would take it; else the error shown beside the field (not an
    error page), by the keys page and the admin alike."""
    if has_control_character(name):
        raise forms.ValidationError(KEY_NAME_CONTROL_CHARACTERS)
    return name


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(max_length=100, strip=True)
    scope = forms.ChoiceField(choices=ApiKey.Scope.choices, initial=ApiKey.Scope.READ)
    expires_in_days = forms.IntegerField(
        required=False, min_value=1, max_value=3650, help_text="Leave empty for a key that does not expire."
    )

    def clean_name(self) -> str:
        return clean_key_name(self.cleaned_data["name"])


class ApiKeyAdminForm(forms.ModelForm):
    """The admin's key form: staff may rename a key, within the rule the owner's pages keep."""

    class Meta:
        model = ApiKey
        fields = ["name"]

    def clean_name(self) -> str:
        return clean_key_name(self.cleaned_data["name"])
