"""Typed errors of the Daraja layer. None of them ever carries a secret."""


class DarajaError(Exception):
    """Base class; ``message`` is a sentence safe to show to a manager (never a secret)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class DarajaValidationError(DarajaError):
    """Refused before anything was sent to Daraja."""


class InvalidPhoneNumber(DarajaValidationError):
    pass


class InvalidAmount(DarajaValidationError):
    pass


class InvalidUrl(DarajaValidationError):
    pass


class DarajaConfigError(DarajaValidationError):
    """The account configuration cannot work (missing credential, malformed shortcode...)."""


class DarajaAPIError(DarajaError):
    """Daraja answered, and the answer is an error (its errorCode/errorMessage are kept)."""

    def __init__(
        self,
        error_code: str | None = None,
        error_message: str | None = None,
        request_id: str | None = None,
        http_status: int | None = None,
        message: str | None = None,
    ):
        self.error_code = error_code
        self.error_message = error_message
        self.request_id = request_id
        self.http_status = http_status
        if message is None:
            parts = [part for part in (error_code, error_message) if part]
            message = ": ".join(parts) if parts else f"Daraja answered HTTP {http_status}"
        super().__init__(message)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(error_code={self.error_code!r}, error_message={self.error_message!r}, "
            f"request_id={self.request_id!r}, http_status={self.http_status!r})"
        )


class DarajaAuthError(DarajaAPIError):
    """OAuth failed, or Daraja kept refusing the access token."""


class DarajaTransportError(DarajaError):
    """No usable answer (connection error, timeout, empty or non-JSON body).

    ``ambiguous`` is True when the request may have reached Daraja: for a payment request the
    customer may have been prompted, so it must never be retried blindly (Daraja has no idempotency).
    """

    def __init__(self, message: str, ambiguous: bool = False):
        super().__init__(message)
        self.ambiguous = ambiguous

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, ambiguous={self.ambiguous!r})"


class CallbackParseError(DarajaError):
    """A callback body that is not a usable STK callback or C2B notification."""
