"""DOT's request validator, with its refresh token check repeated under the lock it takes."""

from __future__ import annotations

from oauth2_provider import oauth2_validators
from oauth2_provider.models import get_access_token_model, get_refresh_token_model
from oauthlib.oauth2.rfc6749 import errors as oauth_errors


class OAuth2Validator(oauth2_validators.OAuth2Validator):
    def _save_bearer_token(self, token, request, *args, **kwargs):
        """Rotate a refresh token only if it is still usable once locked.

        DOT checks the refresh token (``validate_refresh_token``) without a lock, then locks it
        here, in the transaction that writes the new pair, without checking again. A disconnect
        (``services.connected_app_revoke``) or an RFC 7009 revocation committed in between would
        still get the app a new, working pair. So the same rule is applied again under the lock:
        the token must be live (not revoked, its access token not deleted), or revoked by a
        rotation that already wrote its successor (DOT then answers with that pair).
        """
        previous = getattr(request, "refresh_token_instance", None)
        if previous is not None:
            RefreshToken = get_refresh_token_model()
            current = RefreshToken.objects.select_for_update().filter(pk=previous.pk).first()
            live = current is not None and current.revoked is None and current.access_token_id is not None
            superseded = (
                current is not None
                and current.revoked is not None
                and get_access_token_model().objects.filter(source_refresh_token=current).exists()
            )
            if not (live or superseded):
                raise oauth_errors.InvalidGrantError(request=request)
        return super()._save_bearer_token(token, request, *args, **kwargs)
