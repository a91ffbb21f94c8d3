"""GET /oauth/v1/generate and the bearer-token check of the business APIs (docs/daraja.md, "OAuth")."""

import base64
import binascii
import hmac

from .http_types import ApiError, Response, json_response
from .ids import access_token

TOKEN_TTL = 3599

# Each API family reports a bad token with its own code (docs/daraja.md, "Errors").
STK_FAMILY = ApiError(404, "404.001.03", "Invalid Access Token")
C2B_FAMILY = ApiError(400, "400.003.01", "Invalid Access Token")


def generate(state, request) -> Response:
    if request.method != "GET":
        raise ApiError(405, "405.001", "Method Not Allowed")
    if request.query.get("grant_type") != "client_credentials":
        raise ApiError(400, "400.008.02", "Invalid grant type passed")
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        raise ApiError(400, "400.008.01", "Invalid Authentication passed")
    try:
        key, sep, secret = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        key, sep, secret = "", "", ""
    options = state.options
    good = (
        sep == ":"
        and hmac.compare_digest(key.encode(), options.consumer_key.encode())
        and hmac.compare_digest(secret.encode(), options.consumer_secret.encode())
    )
    if not good:
        return _bad_credentials(options.bad_credentials_mode)
    token = access_token()
    state.issue_token(token, TOKEN_TTL)
    expires_in = str(TOKEN_TTL) if options.expires_in_as_string else TOKEN_TTL
    return json_response(200, {"access_token": token, "expires_in": expires_in})


def _bad_credentials(mode: str) -> Response:
    # Wrong key/secret is undocumented; three shapes are reported in the wild (docs/daraja.md, "OAuth").
    if mode == "400.008.01":
        return ApiError(400, "400.008.01", "Invalid Authentication passed").response()
    if mode == "999991":
        return json_response(400, {"resultCode": "999991", "resultDesc": "Invalid client id passed"})
    return Response(400, b"", content_type="")


def require_token(state, request, family: ApiError) -> None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not state.token_valid(token.strip()):
        raise ApiError(family.status, family.code, family.message)
