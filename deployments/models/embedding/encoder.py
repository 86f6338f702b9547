"""Sentence encoder: tokenize, run the transformer, mean-pool, L2-normalise.

Knows nothing of Ray Serve or HTTP. Reproduces what sentence-transformers does for a
Transformer -> Pooling(mean) -> Normalize pipeline, without importing sentence-transformers
at serving time. The transformer runs on torch (eager or traced), or on ONNX Runtime /
OpenVINO from the file `make models` exported (backends.py); everything around it is the
same code for every backend.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import AutoConfig, AutoModel, AutoTokenizer

from deployments.contracts import EmbedInput, is_encodable
from deployments.errors import InputTooLongError, InvalidInputError
from deployments.models.embedding.backends import load_forward
from deployments.models.runtime import hf_model_dir, pick_device, pick_dtype

logger = logging.getLogger(__name__)

# Texts the traced transformer is recorded with and then checked against eager mode on:
# padded and unpadded batches, one text and several, so shape-dependent branches that
# tracing would freeze are caught here instead of in answers.
_TRACE_EXAMPLE = ["a short one", "a longer second text, so that the first is padded"]
_TRACE_PROBES = [["one"], ["same length"] * 3, ["x " * 40, "y", "a b c d e f"]]
_TRACE_TOLERANCE = 1e-4


class _LastHidden(torch.nn.Module):
    """The transformer as a function of positional tensors, as tracing needs."""

    def __init__(self, model: torch.nn.Module, names: list[str]) -> None:
        super().__init__()
        self.model = model
        self.names = names

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        return self.model(**dict(zip(self.names, tensors, strict=True))).last_hidden_state


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


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
        trace: bool = True,
        backend: str = "torch",
        onnx_file: Path | None = None,
    ) -> None:
        st_config = _read_json(model_dir / "sentence_bert_config.json")
        pooling = _read_json(model_dir / "1_Pooling" / "config.json")
        if pooling and not pooling.get("pooling_mode_mean_tokens", True):
            raise ValueError(f"{model_dir}: only mean pooling is supported")
        self.device = device
        self.dtype = dtype
        self.truncate = truncate
        self.do_lower_case = bool(st_config.get("do_lower_case", False))
        self.backend = backend
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
        self._specials: tuple[list[int], list[int]] | None = None
        if backend == "torch":
            self.model = AutoModel.from_pretrained(model_dir, local_files_only=True, dtype=dtype)
            self.model.to(device).eval()
            config = self.model.config
        else:  # the exported file holds the weights: torch never loads them
            config = AutoConfig.from_pretrained(model_dir, local_files_only=True)
        model_limit = int(config.max_position_embeddings)
        self.max_seq_length = min(
            max_seq_length or int(st_config.get("max_seq_length", model_limit)), model_limit
        )
        self.dimensions = int(config.hidden_size)
        self._forward = self._eager
        self.traced = False
        if backend == "torch":
            self.traced = trace and self._trace()
        else:
            if onnx_file is None:
                raise ValueError(f"backend {backend!r} needs the ONNX file `make models` exports")
            run = load_forward(backend, onnx_file, torch.get_num_threads())
            self._forward = lambda batch: torch.from_numpy(
                run({k: v.numpy() for k, v in batch.items()})
            )

    def _eager(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        hidden: torch.Tensor = self.model(**batch).last_hidden_state
        return hidden

    def _tokenize(self, items: Sequence[EmbedInput]) -> dict[str, torch.Tensor]:
        texts = [item for item in items if isinstance(item, str)]
        if len(texts) == len(items):
            if self.do_lower_case:
                texts = [t.lower() for t in texts]
            batch = self.tokenizer(
                texts,
                padding=True,
                truncation=self.truncate,
                max_length=self.max_seq_length if self.truncate else None,
                return_tensors="pt",
            )
        else:  # token ids among them: every item as ids, then padded together
            batch = self.tokenizer.pad(
                {"input_ids": self._input_ids(items)}, padding=True, return_tensors="pt"
            )
            if "token_type_ids" in self.tokenizer.model_input_names:
                batch["token_type_ids"] = torch.zeros_like(batch["input_ids"])
        return {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}

    def _input_ids(self, items: Sequence[EmbedInput]) -> list[list[int]]:
        """Each item's ids as the model runs them: texts tokenized, given ids checked
        against the vocabulary and wrapped in the special tokens the tokenizer adds (so
        the ids of a text, sent without them, embed exactly as the text does)."""
        texts = [
            (i, t.lower() if self.do_lower_case else t)
            for i, t in enumerate(items)
            if isinstance(t, str)
        ]
        rows: list[list[int]] = [[] for _ in items]
        if texts:
            tokenized = self.tokenizer(
                [t for _, t in texts],
                truncation=self.truncate,
                max_length=self.max_seq_length if self.truncate else None,
            )["input_ids"]
            for (i, _), ids in zip(texts, tokenized, strict=True):
                rows[i] = ids
        vocabulary = len(self.tokenizer)
        prefix, suffix = self._special_tokens()
        room = self.max_seq_length - len(prefix) - len(suffix)
        for i, item in enumerate(items):
            if isinstance(item, str):
                continue
            bad = next((t for t in item if not 0 <= t < vocabulary), None)
            if bad is not None:
                raise InvalidInputError(
                    f"input {i} has token id {bad}; this model's vocabulary has ids 0 to "
                    f"{vocabulary - 1} (token ids must come from the served model's tokenizer)",
                    param="input",
                )
            rows[i] = [*prefix, *(item[:room] if self.truncate else item), *suffix]
        return rows

    def _special_tokens(self) -> tuple[list[int], list[int]]:
        """The ids the tokenizer puts before and after a text's own (BERT: [CLS], [SEP]),
        read off one encoded word, as its post-processor adds them."""
        if self._specials is None:
            full: list[int] = self.tokenizer("a")["input_ids"]
            bare: list[int] = self.tokenizer("a", add_special_tokens=False)["input_ids"]
            at = next(i for i in range(len(full)) if full[i : i + len(bare)] == bare)
            self._specials = (full[:at], full[at + len(bare) :])
        return self._specials

    @torch.inference_mode()
    def _trace(self) -> bool:
        """Run the transformer as a TorchScript trace when it provably matches eager mode.

        Why: eager mode walks ~100 Python modules per forward, holding the GIL between
        kernels, so while a small batch runs the replica's event loop can barely take in
        the next requests, and batches stay at one. The trace runs as one C++ call.
        """
        example = self._tokenize(_TRACE_EXAMPLE)
        names = list(example)
        try:
            traced = torch.jit.trace(
                _LastHidden(self.model, names).eval(),
                tuple(example.values()),
                strict=False,
                check_trace=False,
            )
            for texts in _TRACE_PROBES:
                batch = self._tokenize(texts)
                want = self._eager(batch)
                got = traced(*(batch[n] for n in names))
                real = batch["attention_mask"].bool()
                diff = (want[real].float() - got[real].float()).abs().max().item()
                if diff > _TRACE_TOLERANCE:
                    raise ValueError(f"traced output differs by {diff:.2e} on {len(texts)} texts")
        except Exception as exc:  # any model tracing cannot capture stays eager
            logger.warning(
                "running %s eagerly: tracing failed (%s)", type(self.model).__name__, exc
            )
            return False
        self._forward = lambda batch: traced(*(batch[n] for n in names))
        return True

    @classmethod
    def load(
        cls,
        source: str,
        device: str = "auto",
        dtype: str = "auto",
        max_seq_length: int | None = None,
        truncate: bool = True,
        trace: bool = True,
        backend: str = "torch",
        onnx_file: Path | None = None,
    ) -> SentenceEncoder:
        dev = pick_device(device)
        return cls(
            hf_model_dir(source),
            dev,
            pick_dtype(dtype, dev),
            max_seq_length,
            truncate,
            trace,
            backend,
            onnx_file,
        )

    def token_lengths(self, items: Sequence[EmbedInput]) -> list[int]:
        """Tokens each input runs as (special tokens in, truncation applied), without
        padding or tensors: what the batch scheduler sizes forward passes by."""
        return [len(row) for row in self._input_ids(items)]

    @torch.inference_mode()
    def encode(self, texts: Sequence[EmbedInput]) -> Encoded:
        bad = next(
            (i for i, t in enumerate(texts) if isinstance(t, str) and not is_encodable(t)), None
        )
        if bad is not None:
            raise InvalidInputError(f"input {bad} is not valid Unicode text", param="input")
        batch = self._tokenize(texts)
        token_counts = batch["attention_mask"].sum(dim=1).tolist()
        if not self.truncate:
            too_long = [i for i, n in enumerate(token_counts) if n > self.max_seq_length]
            if too_long:
                raise InputTooLongError(
                    f"input {too_long[0]} has {token_counts[too_long[0]]} tokens; "
                    f"the model accepts at most {self.max_seq_length}"
                )
        hidden = self._forward(batch)
        # Mean over real tokens only, in fp32 so fp16 GPU runs pool without overflow.
        weights = batch["attention_mask"].unsqueeze(-1).to(torch.float32)
        summed = (hidden.to(torch.float32) * weights).sum(dim=1)
        pooled = summed / weights.sum(dim=1).clamp(min=1e-9)
        normed = torch.nn.functional.normalize(pooled, p=2, dim=1)
        return Encoded(vectors=normed.cpu().numpy(), token_counts=[int(n) for n in token_counts])
