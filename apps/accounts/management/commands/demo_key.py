"""``manage.py demo_key``: the development API key of the demo account (for ``make run``).

The key is kept in ``var/demo-api-key`` (mode 600) so every start prints the same key; a new
one is made when that file is missing or its key no longer works. A deactivated demo account is
reactivated (said on stderr). Refused in production.
"""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.accounts.models import ApiKey, User, digest_key
from apps.accounts.services import api_key_create, user_create
from synchronex.embedded_db import var_dir

DEMO_EMAIL = "demo@synchronex.local"


class Command(BaseCommand):
    help = "Print the demo account's development API key, creating account and key when needed."

    def handle(self, *args, **options):
        if settings.PRODUCTION:
            raise CommandError("demo_key is for development only.")
        path = var_dir(Path(settings.BASE_DIR)) / "demo-api-key"
        user = User.objects.by_email(DEMO_EMAIL).first() or user_create(email=DEMO_EMAIL, tier="team")
        if not user.is_active:
            # Development only, and make run needs a key that works: stopping here would leave it
            # without the server whose admin could reactivate the account. Said, not silent.
            user.is_active = True
            user.save(update_fields=["is_active"])
            self.stderr.write(f"demo_key: {DEMO_EMAIL} was deactivated; reactivated it (development only).")
        if path.exists():
            raw = path.read_text().strip()
            if ApiKey.objects.live().filter(user=user, digest=digest_key(raw), expires_at__isnull=True).exists():
                self.stdout.write(raw)
                return
        _, raw = api_key_create(user=user, name="Development key", scope="write")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(raw + "\n")
        path.chmod(0o600)
        self.stdout.write(raw)
