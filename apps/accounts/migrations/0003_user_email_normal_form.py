"""Stored addresses in the form every lookup now compares with: NFC, then Python's ``lower()``
(``User.normalize_username``).

Lookups compared ``email__iexact`` (PostgreSQL's ``UPPER()``), which disagrees with Python's
``lower()`` for ``ẞ`` and ``İ``; they now compare the stored form exactly, so a row stored before
that form (an address typed in upper case or decomposed in the admin, or before accounts were
lowered) must be in it too. Only rows not in it are written; a personal space named after its
owner's address is renamed with it (as ``space_rename_personal`` does).

Nothing is refused silently: when two accounts would get one address (``Ünal@x.test`` composed and
decomposed, say), or an address would pass the column's 254 characters (``lower()`` may lengthen),
the migration stops before writing anything and names them; change one in the admin, then migrate
again. Rules written out: a migration keeps its own.
"""

import unicodedata
from collections import defaultdict

from django.conf import settings
from django.db import migrations

EMAIL_MAX, NAME_MAX = 254, 200


def _normal(email: str) -> str:
    return unicodedata.normalize("NFC", email).lower()


def user_email_normal_form(apps, schema_editor):
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    Space = apps.get_model("scopes", "Space")
    owners = defaultdict(list)
    for pk, email in User.objects.values_list("pk", "email").iterator():
        owners[_normal(email)].append((pk, email))
    changed = {pk: normal for normal, rows in owners.items() for pk, email in rows if email != normal}
    if not changed:
        return
    problems = [
        f"{' and '.join(email for _, email in rows)} would both be {normal}"
        for normal, rows in owners.items()
        if len(rows) > 1
    ] + [f"{normal} would pass {EMAIL_MAX} characters" for normal in set(changed.values()) if len(normal) > EMAIL_MAX]
    if problems:
        raise RuntimeError(
            "accounts.0003: these addresses cannot be stored in their normal form (NFC, lower case): "
            + "; ".join(problems)
            + ". Change one of each in the admin, then migrate again."
        )
    for pk, normal in changed.items():
        User.objects.filter(pk=pk).update(email=normal)
        Space.objects.filter(owner_id=pk, kind="personal").update(name=normal[:NAME_MAX])


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_user_email_any_script"),
        ("scopes", "0005_personal_space_names_follow_emails"),
    ]

    operations = [migrations.RunPython(user_email_normal_form, migrations.RunPython.noop)]
