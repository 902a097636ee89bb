"""``python manage.py rotate_byok_keys``: re-encrypt every BYOK secret under the newest Fernet key.

Procedure: put a new key first in FERNET_KEYS (keep the old ones after it), deploy, run this
command, then remove the old keys. Rows are processed in batches, each batch in one transaction
with its rows locked, so a failure leaves every row readable under the configured keys. The
fingerprints are recomputed too, so a changed BYOK_FINGERPRINT_KEY (or SECRET_KEY, when the
fingerprint key is derived from it) is picked up by the same run.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError, transaction

from apps.byok.fields import DecryptionFailed
from apps.byok.models import ByokCredential
from apps.byok.services import secret_fingerprint


class Command(BaseCommand):
    help = "Re-encrypt every BYOK secret under the newest key in FERNET_KEYS (then old keys can be removed)."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500, help="rows per transaction (default 500)")

    def handle(self, *args, batch_size: int, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        rotated = kept_fingerprints = 0
        last_id = None
        while True:
            with transaction.atomic():
                batch = ByokCredential.objects.select_for_update().order_by("id")
                if last_id is not None:
                    batch = batch.filter(id__gt=last_id)
                try:
                    rows = list(batch[:batch_size])  # decrypts with any configured key
                except DecryptionFailed as exc:
                    raise CommandError(f"{exc} Nothing in this batch was changed.") from None
                if not rows:
                    break
                for row in rows:
                    fingerprint = secret_fingerprint(row.secret)
                    if fingerprint != row.fingerprint:
                        try:
                            with transaction.atomic():
                                ByokCredential.objects.filter(pk=row.pk).update(fingerprint=fingerprint)
                        except IntegrityError:
                            # The same key twice in one space under two fingerprint keys:
                            # keep the old fingerprint rather than fail the rotation.
                            kept_fingerprints += 1
                    # Saving the field encrypts it again, always under the newest key.
                    row.save(update_fields=["secret"])
                    rotated += 1
                last_id = rows[-1].id
        self.stdout.write(f"Re-encrypted {rotated} secret(s) under the newest key.")
        if kept_fingerprints:
            self.stdout.write(f"{kept_fingerprints} duplicate key(s) kept their old fingerprint.")
