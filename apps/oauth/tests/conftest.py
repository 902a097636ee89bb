import pytest

from apps.oauth.tests.helpers import PASSWORD


@pytest.fixture
def base_url(live_server, settings):
    """The live server, configured as the public origin (issuer and resource identifiers)."""
    url = live_server.url
    settings.PUBLIC_BASE_URL = url
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "OIDC_ISS_ENDPOINT": url}
    return url


@pytest.fixture
def person(make_user):
    """A pro user who can log in with helpers.PASSWORD."""
    return make_user(tier="pro", password=PASSWORD)
