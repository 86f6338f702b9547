"""The transformer's forward pass on engines other than torch: ONNX Runtime and OpenVINO.

Both run the ONNX file ``make models`` exports once from the packaged weights
(``python -m deployments.models.embedding.backends``, into
model_repository/embeddings/<name>/); a replica only loads it, never exports at start-up.
A runner maps the tokenizer's arrays (int64, [batch, seq]) to the last hidden state
(float32, [batch, seq, hidden]); tokenization, pooling and normalisation stay in
encoder.py, the same code for every backend. Knows nothing of Ray Serve or HTTP.

The export is ``torch.onnx.export`` (TorchScript exporter) on the eager-attention model:
optimum's exporter (what sentence-transformers' ``backend="onnx"`` calls) pins
transformers<5, which this project does not run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path
from typing import Protocol

import numpy as np

from deployments.config import INT8_FILE, ONNX_FILE

# Inputs the export traces with: padded and unpadded rows, so no shape is frozen.
_EXAMPLE = ["a short one", "a longer second text, so that the first is padded"]
_OPSET = 17


class Forward(Protocol):
    def __call__(self, batch: dict[str, np.ndarray]) -> np.ndarray: ...


class OnnxRuntimeForward:
    """ONNX Runtime on CPU; ``session.run`` releases the GIL for the whole pass."""

    def __init__(self, path: Path, threads: int) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self._names = [i.name for i in self._session.get_inputs()]

    def __call__(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        hidden: np.ndarray = self._session.run(None, {n: batch[n] for n in self._names})[0]
        return hidden


# Compiled kernels OpenVINO's CPU plugin keeps, one per input shape: its default is 5,000,
# at ~0.5 MiB each, so a replica meeting many [batch, sequence] shapes grew for as long as
# new ones came (the soak's all-MiniLM replica: 566 -> 1,033 MiB in 4 minutes). 512 bounds
# that at ~256 MiB; past it the least recently used shapes are rebuilt when they return
# (benchmarks/shape_memory.py). Not by rounding shapes instead: padding sequences to a
# multiple of 8 cost 17-31% of texts/s on this CPU (short texts most), 4 still 9-14%.
OPENVINO_SHAPE_CACHE = 512


class OpenVinoForward:
    """OpenVINO on CPU, compiled from the same ONNX file (no IR of its own to keep)."""

    def __init__(self, path: Path, threads: int) -> None:
        import openvino as ov

        core = ov.Core()
        compiled = core.compile_model(
            core.read_model(str(path)),
            "CPU",
            {
                "INFERENCE_NUM_THREADS": threads,
                "PERFORMANCE_HINT": "LATENCY",
                "CPU_RUNTIME_CACHE_CAPACITY": OPENVINO_SHAPE_CACHE,
            },
        )
        self._names = [port.get_any_name() for port in compiled.inputs]
        self._request = compiled.create_infer_request()

    def __call__(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        self._request.infer({n: batch[n] for n in self._names})
        # The output tensor is the request's own buffer, reused by the next call: copy it.
        hidden: np.ndarray = self._request.get_output_tensor(0).data.copy()
        return hidden


def load_forward(backend: str, path: Path, threads: int) -> Forward:
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: export the model first with `make models`")
    if backend == "onnx":
        return OnnxRuntimeForward(path, threads)
    if backend == "openvino":
        return OpenVinoForward(path, threads)
    raise ValueError(f"unknown embedding backend {backend!r}")


def _ffn_matmuls(path: Path) -> list[str]:
    """The feed-forward blocks' MatMuls, which int8 leaves in fp32.

    Why: quantizing every weight MatMul of MiniLM (per tensor) bent its vectors to a
    cosine of 0.875 with sentence-transformers' on the test sentences, per channel to
    0.981; keeping the feed-forward ones in fp32 gives 0.996 (ORT and OpenVINO alike),
    with the attention projections still int8.
    """
    import onnx

    nodes = onnx.load(str(path), load_external_data=False).graph.node
    return [
        n.name
        for n in nodes
        if n.op_type == "MatMul"
        and "attention" not in n.name
        and ("/intermediate/dense/" in n.name or "/output/dense/" in n.name)
    ]


def export(source: str, out_dir: Path, int8: bool = True) -> list[Path]:
    """Write ``out_dir/model.onnx`` (fp32) and, with ``int8``, ``model_int8.onnx`` (dynamic
    int8 quantization, per channel, of the attention's weight MatMuls) from ``source``."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel, AutoTokenizer

    from deployments.models.embedding.encoder import _LastHidden
    from deployments.models.runtime import hf_model_dir

    model_dir = hf_model_dir(source)
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    # Eager attention: the SDPA path's mask handling does not trace into ONNX.
    model = AutoModel.from_pretrained(
        model_dir, local_files_only=True, attn_implementation="eager", dtype=torch.float32
    ).eval()
    example = tokenizer(_EXAMPLE, padding=True, return_tensors="pt")
    names = list(example)
    dynamic = {n: {0: "batch", 1: "sequence"} for n in [*names, "last_hidden_state"]}
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        fp32 = Path(tmp) / ONNX_FILE
        with torch.no_grad():
            torch.onnx.export(
                _LastHidden(model, names).eval(),
                tuple(example[n] for n in names),
                str(fp32),
                input_names=names,
                output_names=["last_hidden_state"],
                dynamic_axes=dynamic,
                opset_version=_OPSET,
                dynamo=False,
            )
        if int8:
            quantize_dynamic(
                fp32,
                Path(tmp) / INT8_FILE,
                weight_type=QuantType.QInt8,
                per_channel=True,
                extra_options={"MatMulConstBOnly": True},
                nodes_to_exclude=_ffn_matmuls(fp32),
            )
        for name in [ONNX_FILE, *([INT8_FILE] if int8 else [])]:
            shutil.move(Path(tmp) / name, out_dir / name)  # whole files only, never half
            written.append(out_dir / name)
    (out_dir / "export.json").write_text(
        json.dumps({"source": source, "inputs": names, "opset": _OPSET, "torch": torch.__version__})
        + "\n"
    )
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", required=True, help="weights: a directory or package:<module>")
    parser.add_argument("--out", type=Path, required=True, help="directory to write")
    parser.add_argument("--no-int8", action="store_true", help="skip the int8 variant")
    parser.add_argument(
        "--only-missing", action="store_true", help="do nothing when the files are there"
    )
    args = parser.parse_args(argv)
    want = [args.out / ONNX_FILE, *([] if args.no_int8 else [args.out / INT8_FILE])]
    if args.only_missing and all(p.is_file() for p in want):
        return
    for path in export(args.source, args.out, int8=not args.no_int8):
        print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB)")


if __name__ == "__main__":
    main()
