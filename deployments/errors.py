"""Domain errors shared by the ingress and the models; none of them knows HTTP.

``deployments.ingress.middleware.errors`` maps each to a status code, in one table.
"""

from __future__ import annotations


class ServingError(Exception):
    """Base of the errors a client can be told about; ``code`` is machine-readable."""

    code = "internal_error"

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class ModelNotFoundError(ServingError):
    code = "model_not_found"


class InvalidInputError(ServingError):
    code = "invalid_input"


class InputTooLongError(InvalidInputError):
    """An input has more tokens than the model accepts and truncation is off."""

    code = "input_too_long"


class PayloadTooLargeError(ServingError):
    code = "payload_too_large"


class OverloadedError(ServingError):
    code = "overloaded"

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ModelUnavailableError(ServingError):
    code = "model_unavailable"


class AuthenticationError(ServingError):
    """Credentials were sent but are not valid (unknown key, bad or expired token)."""

    code = "invalid_credentials"


class MissingCredentialsError(AuthenticationError):
    code = "missing_credentials"


class PermissionDeniedError(ServingError):
    """Valid credentials whose scopes do not cover the request."""

    code = "insufficient_scope"

    def __init__(self, message: str, *, required_scope: str) -> None:
        super().__init__(message)
        self.required_scope = required_scope


class RateLimitedError(ServingError):
    code = "rate_limit_exceeded"

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class UnsupportedMediaTypeError(ServingError):
    code = "unsupported_media_type"


class DeadlineExceededError(ServingError):
    code = "deadline_exceeded"
