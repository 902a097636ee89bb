from django import forms

from apps.accounts.models import ApiKey


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(max_length=100, strip=True)
    scope = forms.ChoiceField(choices=ApiKey.Scope.choices, initial=ApiKey.Scope.READ)
    expires_in_days = forms.IntegerField(
        required=False, min_value=1, max_value=3650, help_text="Leave empty for a key that does not expire."
    )
