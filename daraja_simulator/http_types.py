"""Request/response values passed between the HTTP layer and the endpoint handlers."""

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from .ids import request_id
from .jsonutil import dumps


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self):
        """The body as JSON, or ApiError 400.002.05 when it is not JSON."""
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise ApiError(400, "400.002.05", "Invalid Request Payload") from None


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    after: Callable[[], None] | None = None  # run once the answer is sent (the connection then closes)


def json_response(status: int, payload) -> Response:
    return Response(status, dumps(payload).encode("utf-8"))


class ApiError(Exception):
    """A Daraja gateway error: {"requestId","errorCode","errorMessage"} with its HTTP status."""

    def __init__(self, status: int, code: str, message: str, req_id: str | None = None):
        super().__init__(f"{code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.req_id = req_id

    def response(self) -> Response:
        return json_response(
            self.status,
            {"requestId": self.req_id or request_id(), "errorCode": self.code, "errorMessage": self.message},
        )


def bad_request(field_name: str) -> ApiError:
    return ApiError(400, "400.002.02", f"Bad Request - Invalid {field_name}")


def mpesa_error(message: str, req_id: str | None = None) -> ApiError:
    return ApiError(500, "500.001.1001", message, req_id)


class ControlError(Exception):
    """An error of the /__sim__/ control API: {"error": message}."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message

    def response(self) -> Response:
        return json_response(self.status, {"error": self.message})
