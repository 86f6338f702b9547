"""The text-generation row of the inference dashboard (deployments/metrics.py).

Counted at the generator's replicas, whose deployment is named after the model.
"""

from __future__ import annotations

from monitoring.grafana.dashboard_spec import Panel, Row, Target
from monitoring.grafana.promql import APP, CLUSTER, DEPLOYMENT, MODEL, agg, quantile, rate_sum

REPLICA_APP = (CLUSTER, APP, DEPLOYMENT, MODEL)
TOKENS = "ray_generation_tokens_total"
TTFT = "ray_generation_time_to_first_token_seconds"
ITL = "ray_generation_inter_token_latency_seconds"
E2E = "ray_generation_request_latency_seconds"
BATCH = "ray_generation_decode_batch_size"


def _zero_when_absent(expr: str) -> str:
    # A counter has no series until it first counts: `or on (model)` adds a 0 line for
    # generators that have generated but never had this happen.
    return f"{expr} or on (model) {rate_sum(TOKENS, 'model', *REPLICA_APP)} * 0"


GENERATION = Row(
    "Text generation",
    (
        Panel(
            "Generated tokens per second",
            "Tokens produced per second by each generator model (all replicas), and prompt "
            "tokens read per second.",
            (
                Target(rate_sum(TOKENS, "model", *REPLICA_APP), "{{model}} generated"),
                Target(
                    rate_sum("ray_generation_prompt_tokens_total", "model", *REPLICA_APP),
                    "{{model}} prompt",
                ),
            ),
            unit="suffix: tokens/s",
        ),
        Panel(
            "Time to first token (p50 / p90 / p99)",
            "From a request's arrival at a generator replica to its first generated token: "
            "waiting for a decode slot plus the prompt's prefill (batched with other "
            "arrivals).",
            tuple(
                Target(quantile(q, TTFT, "model", *REPLICA_APP), f"{{{{model}}}} p{q * 100:g}")
                for q in (0.5, 0.9, 0.99)
            ),
            unit="s",
        ),
        Panel(
            "Running and waiting sequences",
            "Continuous batching: sequences one decode step advances (running, at most "
            "batching.max_num_seqs per replica) and requests waiting for a slot (past "
            "max_waiting_seqs they get 503). A waiting line that keeps growing fires "
            "GenerationWaitingLineGrowing.",
            (
                Target(
                    agg("sum", "model", "ray_generation_running_sequences", *REPLICA_APP),
                    "{{model}} running",
                ),
                Target(
                    agg("sum", "model", "ray_generation_waiting_sequences", *REPLICA_APP),
                    "{{model}} waiting",
                ),
            ),
            unit="short",
        ),
        Panel(
            "KV-cache use",
            "Share of batching.max_cache_tokens reserved by running sequences (prompt plus "
            "max_tokens each), on the fullest replica: at 100% arrivals wait.",
            (
                Target(
                    agg("max", "model", "ray_generation_kv_cache_usage", *REPLICA_APP),
                    "{{model}}",
                ),
            ),
            unit="percentunit",
        ),
        Panel(
            "Decode batch size (p50 / p99)",
            "Sequences advanced by one decode step: 1 means requests are not overlapping "
            "(or engine: sequential).",
            tuple(
                Target(quantile(q, BATCH, "model", *REPLICA_APP), f"{{{{model}}}} p{q * 100:g}")
                for q in (0.5, 0.99)
            ),
            unit="short",
        ),
        Panel(
            "Inter-token and request latency (p50 / p99)",
            "Between two tokens of one stream (one decode step of the whole batch), and "
            "from a request's arrival at the replica to its end.",
            (
                *(
                    Target(
                        quantile(q, ITL, "model", *REPLICA_APP),
                        f"{{{{model}}}} inter-token p{q * 100:g}",
                    )
                    for q in (0.5, 0.99)
                ),
                *(
                    Target(
                        quantile(q, E2E, "model", *REPLICA_APP),
                        f"{{{{model}}}} request p{q * 100:g}",
                    )
                    for q in (0.5, 0.99)
                ),
            ),
            unit="s",
        ),
        Panel(
            "Generations per second by finish reason",
            "Ended generations: stop (end of text or a stop sequence), length (max_tokens), "
            "cancelled (client gone or deadline passed), error.",
            (
                Target(
                    rate_sum("ray_generation_requests_total", "model, finish_reason", *REPLICA_APP),
                    "{{model}} {{finish_reason}}",
                ),
            ),
            unit="reqps",
        ),
        Panel(
            "Cancelled generations per second",
            "Generations stopped early because the client disconnected or the request's "
            "deadline passed; their remaining tokens were never computed. A generator "
            "without cancellations shows one line at 0.",
            (
                Target(
                    _zero_when_absent(
                        rate_sum("ray_generation_cancelled_total", "model", *REPLICA_APP)
                    ),
                    "{{model}}",
                ),
            ),
            unit="reqps",
        ),
    ),
)
