"""Personal spaces named after their owner's current address.

A personal space is named after its owner's email when it is made (``space_ensure_personal``); an
address changed later in the admin left the old one as the space's name, shown in the space list and
the memory overview and found by admin searches. Since then the admin renames the space with the
address (``space_rename_personal``); this renames those left behind, in one statement. Rules written
out: a migration keeps its own (the name is the address cut to the column's 200 characters).
"""

from django.conf import settings
from django.db import migrations

NAME_MAX = 200


def personal_space_names_follow_emails(apps, schema_editor):
    Space = apps.get_model("scopes", "Space")
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {Space._meta.db_table} AS s SET name = left(u.email, %s)
            FROM {User._meta.db_table} AS u
            WHERE s.owner_id = u.id AND s.kind = 'personal' AND s.name IS DISTINCT FROM left(u.email, %s)
            """,  # noqa: S608 - table names from the models, values as parameters
            [NAME_MAX, NAME_MAX],
        )


class Migration(migrations.Migration):
    dependencies = [
        ("scopes", "0004_workspace_names_under_the_rule"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [migrations.RunPython(personal_space_names_follow_emails, migrations.RunPython.noop)]
