from collections.abc import Callable

import google.oauth2.credentials
import pytest
from googleapiclient import discovery


@pytest.fixture
def google_api(live_server, token_for, seeded_catalog) -> Callable:
    """google_api(user, "ml", "v1") -> the real googleapiclient, pointed at the live console."""

    def build(user, api: str = "ml", version: str = "v1", token: str | None = None):
        credentials = google.oauth2.credentials.Credentials(token or token_for(user, name=f"g-{api}"))
        return discovery.build(
            api,
            version,
            credentials=credentials,
            static_discovery=True,
            client_options={"api_endpoint": live_server.url + "/"},
            cache_discovery=False,
        )

    return build
