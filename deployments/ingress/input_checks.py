"""The ingress's checks of client text, one set for every route that takes text.

Schemas (``schemas/``) check a body's shape; what depends on the configured limits, or
is valid JSON but no text a tokenizer can take, is checked here before any model call:
embeddings' ``input`` (texts or token ids), completions' ``prompt`` and ``stop``.
Predictors' tensors are checked by the schemas generated from their manifests
(``schemas/predict.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

from deployments.config import RequestLimits
from deployments.contracts import EmbedInput, is_encodable
from deployments.errors import InvalidInputError


def check_text(text: str, name: str, limits: RequestLimits, param: str) -> None:
    """One client text: not empty, within ``max_input_chars``, real Unicode."""
    if not text:
        raise InvalidInputError(f"{name} is an empty string", param=param)
    if len(text) > limits.max_input_chars:
        raise InvalidInputError(
            f"{name} has {len(text)} characters; at most {limits.max_input_chars} are accepted",
            param=param,
        )
    if not is_encodable(text):
        raise InvalidInputError(
            f"{name} is not valid Unicode text (it has a lone surrogate)", param=param
        )


def check_texts(texts: Sequence[EmbedInput], limits: RequestLimits, param: str) -> None:
    """A list of inputs sent as ``param``: 1 to ``max_inputs_per_request`` of them, each
    text checked by ``check_text`` and each list of token ids by ``check_token_ids``
    (named ``param[i]`` in errors)."""
    if not texts:
        raise InvalidInputError(f"{param} must not be empty", param=param)
    if len(texts) > limits.max_inputs_per_request:
        raise InvalidInputError(
            f"{param} has {len(texts)} items; at most "
            f"{limits.max_inputs_per_request} are accepted per request",
            param=param,
        )
    for i, item in enumerate(texts):
        if isinstance(item, str):
            check_text(item, f"{param}[{i}]", limits, param)
        else:
            check_token_ids(item, f"{param}[{i}]", limits, param)


def check_token_ids(ids: Sequence[int], name: str, limits: RequestLimits, param: str) -> None:
    """One input given as token ids: not empty, at most ``max_input_chars`` of them (a
    token is at least a character, so no text could be longer). The replica checks them
    against its vocabulary."""
    if not ids:
        raise InvalidInputError(f"{name} is an empty list of token ids", param=param)
    if len(ids) > limits.max_input_chars:
        raise InvalidInputError(
            f"{name} has {len(ids)} token ids; at most {limits.max_input_chars} are accepted",
            param=param,
        )
