from django import forms

from apps.accounts.models import ApiKey
from apps.accounts.services import KEY_NAME_CONTROL_CHARACTERS
from apps.products.names import has_control_character


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(max_length=100, strip=True)
    scope = forms.ChoiceField(choices=ApiKey.Scope.choices, initial=ApiKey.Scope.READ)
    expires_in_days = forms.IntegerField(
        required=False, min_value=1, max_value=3650, help_text="Leave empty for a key that does not expire."
    )

    def clean_name(self) -> str:
        # As ``api_key_create`` refuses it, said here beside the field rather than as an error page.
        name = self.cleaned_data["name"]
        if has_control_character(name):
            raise forms.ValidationError(KEY_NAME_CONTROL_CHARACTERS)
        return name
