"""`Authorization: Bearer <token>` for every API."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from mlplatform.core.errors import ApplicationError
from mlplatform.core.services import api_token_authenticate


class BearerTokenAuthentication(BaseAuthentication):
    keyword = b"bearer"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2:
            raise AuthenticationFailed("Malformed Authorization header; expected 'Bearer <token>'.")
        try:
            return api_token_authenticate(raw=parts[1].decode("latin-1"))
        except ApplicationError as exc:
            raise AuthenticationFailed(exc.message) from exc

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """The OpenAPI security scheme of BearerTokenAuthentication (registered by being defined)."""

    target_class = BearerTokenAuthentication
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(header_name="Authorization", token_prefix="Bearer")


def native_api_only(endpoints, **kwargs):
    """The OpenAPI schema describes the native API (`/api/`); the Google-compatible facades
    (`/v1/`, `/v2/`) are described by Google's discovery documents."""
    return [endpoint for endpoint in endpoints if endpoint[0].startswith("/api/")]
