"""Clients registered over RFC 7591 while the request carried a signed-in browser session were
bound to that account (``Application.user``, and the user of their registration token), which
``endpoints.RegisterView`` no longer does: detach them, so that deleting that account no longer
deletes the app with every other account's tokens, nor lists it among the account's connected
apps. Clients made otherwise (never from the admin, where apps are read-only) keep their owner."""

from django.conf import settings
from django.db import migrations
from oauth2_provider.settings import oauth2_settings


def registered_clients_belong_to_no_account(apps, schema_editor):
    app_label, model_name = settings.OAUTH2_PROVIDER_APPLICATION_MODEL.split(".")
    Application = apps.get_model(app_label, model_name)
    token_label, token_model = oauth2_settings.ACCESS_TOKEN_MODEL.split(".")
    AccessToken = apps.get_model(token_label, token_model)
    bound = Application.objects.filter(registration_source="dcr", user__isnull=False)
    AccessToken.objects.filter(
        application__in=bound.values("pk"), scope=oauth2_settings.DCR_REGISTRATION_SCOPE, user__isnull=False
    ).update(user=None)
    bound.update(user=None)


class Migration(migrations.Migration):
    dependencies = [
        ("synchronex_oauth", "0002_public_registered_clients_without_a_secret"),
        ("oauth2_provider", "0019_application_registration_source"),
    ]

    operations = [migrations.RunPython(registered_clients_belong_to_no_account, migrations.RunPython.noop)]
