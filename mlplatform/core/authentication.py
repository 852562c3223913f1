"""`Authorization: Bearer <token>` for every API."""

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
