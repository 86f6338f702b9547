"""Typed application arguments, read from ``applications[].args`` in serve_config.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from deployments.contracts import GenerationBatching, ModelKind
from deployments.model_manifest import ModelSpec, load_model_dir, load_model_root, resolve


class _TorchModelArgs(BaseModel):
    """What every model run from local weights has: its id, where and how it runs."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        description="Model id clients pass as `model`; also the Serve deployment name.",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$",
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="`auto` uses the GPU when the replica was given one (`num_gpus`)."
    )
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = Field(
        "auto", description="`auto` is float16 on GPU and float32 on CPU."
    )
    torch_threads: int | None = Field(
        None,
        ge=1,
        description="Intra-op CPU threads per replica; defaults to Ray's OMP_NUM_THREADS.",
    )
    source: str = Field(
        description="Where the weights are: a directory as Hugging Face's save_pretrained "
        "writes it (relative: against $RSIC_MODEL_REPOSITORY, else the project root, as "
        "predictors' paths are), or `package:<module>` for weights shipped inside an "
        "installed Python package."
    )


# What `make models` exports for the onnx/openvino embedding backends
# (deployments/models/embedding/backends.py), per model, under the model repository.
EMBEDDING_EXPORTS = "model_repository/embeddings"
ONNX_FILE = "model.onnx"
INT8_FILE = "model_int8.onnx"


def default_export_dir(name: str) -> str:
    return f"{EMBEDDING_EXPORTS}/{name}"


class EmbeddingModelArgs(_TorchModelArgs):
    """One served embedding model (a sentence-transformers directory); it becomes its own
    Serve deployment named ``name``."""

    max_seq_length: int | None = Field(
        None, ge=1, description="Token limit per input; defaults to the model's own."
    )
    truncate: bool = Field(
        True,
        description="Cut inputs longer than max_seq_length (as sentence-transformers does); "
        "when false they are rejected with 422.",
    )
    trace: bool = Field(
        True,
        description="Run the transformer as a TorchScript trace (checked against eager mode "
        "at load; eager if it differs or fails). Faster, and it frees the GIL during the "
        "forward pass so the replica keeps taking in requests and batches fill.",
    )
    backend: Literal["torch", "onnx", "openvino"] = Field(
        "torch",
        description="Engine of the forward pass: `torch` runs the weights in `source`; "
        "`onnx` (ONNX Runtime) and `openvino` run the ONNX file `make models` exported from "
        "them into `export_dir` (CPU only; the replica never exports at start-up). Every "
        "backend gives sentence-transformers' vectors: cosine >= 0.999 (int8: >= 0.99).",
    )
    quantize: Literal["none", "int8"] = Field(
        "none",
        description="`int8`: the export's int8 variant (weights of the attention MatMuls "
        "quantized per channel); onnx and openvino backends only.",
    )
    export_dir: str | None = Field(
        None,
        description="Where `make models` wrote this model's ONNX files; default "
        f"`{EMBEDDING_EXPORTS}/<name>`. Relative as for predictors[].path.",
    )
    owned_by: str = Field("sentence-transformers", description="Shown in GET /v1/models.")
    max_calls_in_flight: int | None = Field(
        4,
        ge=1,
        description="Per ingress replica: most `embed` calls open to this model at once. "
        "Requests arriving while all are open wait and share the next call, so the model "
        "replica pays its per-call cost (about 2 ms of event loop) once per group instead "
        "of once per request (deployments/ingress/call_coalescer.py). The model deployment's "
        "ongoing requests then count calls: keep its target_ongoing_requests below this "
        "times the ingress replicas. null: one call per request.",
    )
    max_inputs_per_call: int = Field(
        256, ge=1, description="Most inputs (texts) that waiting requests put in one call."
    )
    max_waiting_requests: int = Field(
        256,
        ge=1,
        description="Per ingress replica: most requests waiting for a call slot; past it "
        "requests get 503 with Retry-After at once (the model's max_queued_requests no "
        "longer sees them one by one).",
    )

    def onnx_file(self) -> Path | None:
        """The file the onnx/openvino backend runs; None for torch."""
        if self.backend == "torch":
            return None
        directory = resolve(self.export_dir or default_export_dir(self.name))
        return directory / (INT8_FILE if self.quantize == "int8" else ONNX_FILE)

    @model_validator(mode="after")
    def _backend_can_run(self) -> EmbeddingModelArgs:
        # Checked where the app is built, so `serve deploy` fails with the reason instead of
        # a replica failing its start-up in a loop.
        if self.backend == "torch":
            if self.quantize != "none":
                raise ValueError("quantize: int8 needs backend onnx or openvino")
            return self
        if self.device == "cuda":
            raise ValueError(f"backend {self.backend} runs on CPU: use device cpu or auto")
        if self.dtype not in ("auto", "float32"):
            raise ValueError(f"backend {self.backend} runs float32 (int8 with quantize)")
        path = self.onnx_file()
        if path is not None and not path.is_file():
            raise ValueError(
                f"backend {self.backend}: {path} is missing (export it with `make models`)"
            )
        return self


class GeneratorArgs(_TorchModelArgs):
    """One served causal language model (POST /v1/completions; config, weights and
    tokenizer loaded with local_files_only); its own Serve deployment."""

    max_new_tokens_limit: int = Field(
        256, ge=1, description="Largest accepted `max_tokens`; more gets 422."
    )
    default_max_tokens: int = Field(
        16, ge=1, description="`max_tokens` of a request that sends none (OpenAI's default)."
    )
    max_prompt_tokens: int = Field(
        1024,
        ge=1,
        description="Longest accepted prompt in tokens; longer gets 422. Prompt plus "
        "max_tokens must also fit the model's context window.",
    )
    owned_by: str = Field("local", description="Shown in GET /v1/models.")
    chat: bool = Field(
        True,
        description="Also serve POST /v1/chat/completions, rendering messages with the "
        "tokenizer's chat template: a model without one fails its deployment, saying so. "
        "false: completions only (chat requests for it get 422).",
    )

    engine: Literal["continuous", "sequential"] = Field(
        "continuous",
        description="`continuous`: one decode step advances every running request "
        "(iteration-level batching); `sequential`: each request decodes on its own cache "
        "and concurrent ones interleave their steps (the benchmark baseline).",
    )
    batching: GenerationBatching = Field(
        default_factory=GenerationBatching,
        description="Continuous batching knobs; the deployment's user_config overrides them live.",
    )

    @model_validator(mode="after")
    def _default_within_limit(self) -> GeneratorArgs:
        if self.default_max_tokens > self.max_new_tokens_limit:
            raise ValueError("default_max_tokens must not exceed max_new_tokens_limit")
        if self.max_prompt_tokens > self.batching.max_num_batched_tokens:
            raise ValueError("max_prompt_tokens must not exceed batching.max_num_batched_tokens")
        if self.max_prompt_tokens + self.max_new_tokens_limit > self.batching.max_cache_tokens:
            raise ValueError(
                "batching.max_cache_tokens must hold one request: max_prompt_tokens plus "
                "max_new_tokens_limit"
            )
        return self


class RequestLimits(BaseModel):
    """Limits the ingress enforces before any work reaches a model."""

    model_config = ConfigDict(extra="forbid")

    max_request_bytes: int = Field(
        2 * 1024 * 1024, ge=1024, description="Largest accepted request body; larger gets 413."
    )
    max_inputs_per_request: int = Field(
        512,
        ge=1,
        description="Most strings in one `input` list, or rows in one predict request; "
        "more gets 422.",
    )
    max_input_chars: int = Field(
        16384, ge=1, description="Longest accepted string in characters; longer gets 422."
    )
    retry_after_s: int = Field(
        1, ge=1, description="`Retry-After` sent with 503 when a model's queue is full."
    )
    ready_timeout_s: float = Field(
        2.0, gt=0, description="How long /readyz waits for each model deployment to answer."
    )
    require_json: bool = Field(
        True,
        description="Reject request bodies whose Content-Type is not application/json with 415.",
    )
    max_deadline_s: float = Field(
        25.0,
        gt=0,
        le=3600,
        description="Deadline of a request when the client sends no X-Request-Timeout-Ms, and "
        "the most it may ask for; past it the model work is cancelled and the answer is 504. "
        "Keep it below http_options.request_timeout_s so clients get this JSON 504 rather "
        "than the proxy's own timeout.",
    )


class AuthConfig(BaseModel):
    """Who may call the API. Credentials themselves never live here (see Settings)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(
        True,
        description="Require an API key or JWT on every route but the probes (and the docs "
        "if public_docs). Only an explicit false turns it off.",
    )
    public_docs: bool = Field(
        False, description="Serve /docs and /openapi.json without credentials."
    )


class RateLimit(BaseModel):
    """A token bucket: ``burst`` requests at once, refilled at ``requests_per_s``."""

    model_config = ConfigDict(extra="forbid")

    requests_per_s: float = Field(gt=0, description="Sustained requests per second.")
    burst: int = Field(ge=1, description="Requests allowed at once after a quiet period.")


class RateLimits(BaseModel):
    """Per-client request rates, enforced by each ingress replica on its own."""

    model_config = ConfigDict(extra="forbid")

    default: RateLimit | None = Field(
        default_factory=lambda: RateLimit(requests_per_s=20, burst=40),
        description="Limit of a client none of whose scopes is listed in by_scope; "
        "null means unlimited.",
    )
    by_scope: dict[str, RateLimit | None] = Field(
        default_factory=dict,
        description="Limit per scope; a client with several listed scopes gets the most "
        "generous of them, and null (unlimited) beats any number.",
    )


class PredictorArgs(BaseModel):
    """One model directory of the model repository, served as its own deployment."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(
        description="Model directory (manifest.yaml + artifact); a relative path is "
        "resolved against $RSIC_MODEL_REPOSITORY, else the project root."
    )
    name: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$",
        description="Served model id and deployment name; defaults to the manifest's name.",
    )
    _spec: ModelSpec | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _load(self) -> PredictorArgs:
        # Read here, where the app is built, so that the ingress (which may run on another
        # node) gets the manifests inside its args and never reads the repository itself.
        self._spec = load_model_dir(resolve(self.path), self.name)
        return self

    @property
    def spec(self) -> ModelSpec:
        assert self._spec is not None
        return self._spec


class MultiplexedArgs(BaseModel):
    """Many small models sharing the replicas of one deployment, loaded on demand (LRU)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$",
        description="Serve deployment name (not a model id).",
    )
    root: str = Field(
        description="Directory whose subdirectories are model directories; each is served "
        "under its manifest's name. Relative as for predictors[].path."
    )
    max_models_per_replica: int = Field(
        2,
        ge=1,
        le=1024,
        description="Models a replica keeps loaded; past it the least recently used is unloaded.",
    )
    _specs: list[ModelSpec] = PrivateAttr(default_factory=list)

    @model_validator(mode="after")
    def _load(self) -> MultiplexedArgs:
        self._specs = load_model_root(resolve(self.root))
        return self

    @property
    def specs(self) -> list[ModelSpec]:
        return self._specs


class AppArgs(BaseModel):
    """Arguments of ``deployments.app:build_app``."""

    model_config = ConfigDict(extra="forbid")

    models: list[EmbeddingModelArgs] = Field(
        default_factory=list,
        description="Embedding models to serve, each as its own deployment.",
    )
    predictors: list[PredictorArgs] = Field(
        default_factory=list,
        description="Models of the model repository (TorchScript or torch.export plus a "
        "manifest), each as its own deployment with a typed POST /v1/models/<name>/predict.",
    )
    multiplexed: list[MultiplexedArgs] = Field(
        default_factory=list,
        description="Deployments that each serve every model under a root directory, "
        "loading them on demand into a bounded per-replica cache.",
    )
    generators: list[GeneratorArgs] = Field(
        default_factory=list,
        description="Causal language models served on POST /v1/completions, each as its "
        "own deployment.",
    )
    limits: RequestLimits = Field(
        default_factory=RequestLimits, description="Request limits enforced by the ingress."
    )
    auth: AuthConfig = Field(
        default_factory=AuthConfig, description="Authentication of clients (on by default)."
    )
    rate_limits: RateLimits = Field(
        default_factory=RateLimits, description="Per-client rate limits, per ingress replica."
    )

    def _served(self) -> list[tuple[str, ModelKind]]:
        # Every kind of model shares one namespace: clients name any of them as `model`.
        served: list[tuple[str, ModelKind]] = [(m.name, "embedding") for m in self.models]
        served += [(spec.name, "predictor") for spec in self.predictor_specs()]
        served += [(g.name, "generator") for g in self.generators]
        return served

    def predictor_specs(self) -> list[ModelSpec]:
        """Every predictor model, own deployment or multiplexed, in config order."""
        return [p.spec for p in self.predictors] + [
            spec for group in self.multiplexed for spec in group.specs
        ]

    def model_kinds(self) -> dict[str, ModelKind]:
        """Every served model id with its kind, in config order."""
        return dict(self._served())

    @model_validator(mode="after")
    def _some_unique_models(self) -> AppArgs:
        names = [name for name, _ in self._served()]
        if not names:
            raise ValueError("serve at least one model")
        if len(names) != len(set(names)):
            raise ValueError(f"model names must be unique across all kinds: {names}")
        clashing = {g.name for g in self.multiplexed} & {*names, "Ingress"}
        if clashing:
            raise ValueError(f"multiplexed deployment names clash with models: {clashing}")
        return self
