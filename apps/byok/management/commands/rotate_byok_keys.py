"""``python manage.py rotate_byok_keys [--check]``: re-encrypt every BYOK secret under the newest
Fernet key, or (``--check``) only report the secrets the configured keys cannot decrypt.

Procedure (README, "AI costs and BYOK"): deploy OLD,NEW everywhere, then NEW,OLD, run this
command, check with ``FERNET_KEYS=NEW … --check``, then remove OLD. Rows are processed in
batches, each batch in one transaction with its rows locked, so a failure leaves every row
readable under the configured keys. The fingerprints are recomputed too, so a changed
BYOK_FINGERPRINT_KEY (or SECRET_KEY, when the fingerprint key is derived from it) is picked up by
the same run.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError, models, transaction
from django.db.models.functions import Cast

from apps.byok.fields import DecryptionFailed, decrypt
from apps.byok.models import ByokCredential
from apps.byok.services import secret_fingerprint


class Command(BaseCommand):
    help = "Re-encrypt every BYOK secret under the newest key in FERNET_KEYS (then old keys can be removed)."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500, help="rows per transaction (default 500)")
        parser.add_argument(
            "--check",
            action="store_true",
            help="change nothing: list the secrets no key in FERNET_KEYS decrypts (exit 1 if any), "
            "e.g. with the keys you are about to deploy before removing one",
        )

    def handle(self, *args, batch_size: int, check: bool, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        if check:
            self._check(batch_size)
            return
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

    def _check(self, batch_size: int) -> None:
        """Try every secret with the configured keys, one by one (the ciphertext is read as text,
        so one that fails does not hide the others); write the ids of those that fail."""
        failed = total = 0
        rows = ByokCredential.objects.order_by("id").values_list(
            "id", "service", "space_id", Cast("secret", models.TextField())
        )
        for credential_id, service, space_id, token in rows.iterator(chunk_size=batch_size):
            total += 1
            try:
                decrypt(token)
            except DecryptionFailed:
                failed += 1
                self.stdout.write(f"{credential_id} {service} space {space_id}")
        if failed:
            raise CommandError(
                f"{failed} of {total} secret(s) cannot be decrypted with any key in FERNET_KEYS (listed above). "
                "Keep the keys they were encrypted with until rotate_byok_keys has re-encrypted them."
            )
        self.stdout.write(f"All {total} secret(s) decrypt with the configured keys.")
