"""The text-generation row of the inference dashboard (deployments/metrics.py).

Counted at the generator's replicas, whose deployment is named after the model.
"""

from __future__ import annotations

from monitoring.grafana.dashboard_spec import Panel, Row, Target
from monitoring.grafana.promql import APP, CLUSTER, DEPLOYMENT, MODEL, quantile, rate_sum

REPLICA_APP = (CLUSTER, APP, DEPLOYMENT, MODEL)
TOKENS = "ray_generation_tokens_total"
TTFT = "ray_generation_time_to_first_token_seconds"


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
            "queueing behind other requests' decode steps plus the prompt's forward pass.",
            tuple(
                Target(quantile(q, TTFT, "model", *REPLICA_APP), f"{{{{model}}}} p{q * 100:g}")
                for q in (0.5, 0.9, 0.99)
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
