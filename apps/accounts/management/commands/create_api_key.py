"""``manage.py create_api_key --email E --scope read|write [--name N] [--create-user] [--tier T]``

Prints only the new key, so scripts can capture it.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError, transaction
from rest_framework import serializers

from apps.accounts.models import Tier, User
from apps.accounts.services import api_key_create, user_create
from apps.scopes.api.serializers import AccountEmailField
from synchronex.api import errors


class Command(BaseCommand):
    help = "Create an API key for a user and print it (only the key)."

    def add_arguments(self, parser):
        parser.add_argument("--email", required=True)
        parser.add_argument("--scope", required=True, choices=["read", "write"])
        parser.add_argument("--name", default="CLI key")
        parser.add_argument("--create-user", action="store_true", help="Create the user when missing.")
        parser.add_argument("--tier", choices=Tier.values, help="Set the user's plan.")

    @transaction.atomic  # a refused key leaves no new user or plan change behind
    def handle(self, *args, email, scope, name, create_user, tier, **options):
        # As the members API looks accounts up: "ü" composed or decomposed, in any case, is one.
        user = User.objects.by_email(email).first()
        if user is None:
            if not create_user:
                raise CommandError(f"No user with email {email}; pass --create-user to create one.")
            try:
                user = user_create(email=_account_email(email), tier=tier or Tier.FREE)
            except IntegrityError:  # made meanwhile (another run): one line, not a traceback
                raise CommandError(f"An account with email {email} already exists; run the command again.") from None
        elif tier and user.tier != tier:
            user.tier = tier
            user.save(update_fields=["tier"])
        try:
            _, raw = api_key_create(user=user, name=name, scope=scope)
        except errors.ValidationFailed as refused:
            # The service's rules (a name's length and characters) as a message, not a traceback.
            problems = [problem for field in refused.details["fields"].values() for problem in field]
            raise CommandError(" ".join(problems)) from refused
        except errors.Conflict as refused:  # a deactivated account: its key could never authenticate
            raise CommandError(refused.message) from refused
        self.stdout.write(raw)


def _account_email(email: str) -> str:
    """``email`` trimmed and NFC, if the workspace-members API would accept it (no invisible
    characters): an account it refuses could never be added to a workspace (and an empty or
    overlong one failed with a traceback)."""
    try:
        return AccountEmailField().run_validation(email)
    except serializers.ValidationError as refused:
        raise CommandError(f"--email: {' '.join(refused.detail)}") from None
