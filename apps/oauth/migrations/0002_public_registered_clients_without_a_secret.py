"""Public clients registered before ``registration.no_secret_for_public_clients`` keep a hashed
secret nobody was ever shown; those registered since have none. Clear it on the earlier ones, so
every public registered client authenticates alike (by its client_id; HTTP Basic with an empty
password is accepted from all of them, not from the newer ones only)."""

from django.conf import settings
from django.db import migrations


def clear_secrets(apps, schema_editor):
    app_label, model_name = settings.OAUTH2_PROVIDER_APPLICATION_MODEL.split(".")
    Application = apps.get_model(app_label, model_name)
    Application.objects.filter(registration_source="dcr", client_type="public").exclude(client_secret="").update(
        client_secret="", hash_client_secret=False
    )


class Migration(migrations.Migration):
    dependencies = [
        ("synchronex_oauth", "0001_initial"),
        migrations.swappable_dependency(settings.OAUTH2_PROVIDER_APPLICATION_MODEL),
    ]

    operations = [migrations.RunPython(clear_secrets, migrations.RunPython.noop)]
