"""The rows, panels and template variables of the inference dashboard.

Panels query Ray's raw metrics, not the recording rules, so they work on any Prometheus
that scrapes Ray. Serve's latency histograms are in ms, the application's in seconds.
The application's ray_model_* metrics are labelled by model and kind. Requests and errors
per model are counted at the ingress, for every model route (embeddings, predict,
completions); items, batches and timings at the batched models' replicas (embedding and
predictor), whose deployment is named after the model.
"""

from __future__ import annotations

from monitoring.grafana.dashboard_spec import Panel, Row, Target, Variable
from monitoring.grafana.promql import (
    APP,
    CLUSTER,
    DEPLOYMENT,
    MODEL,
    USER_ROUTES,
    agg,
    mean,
    quantile,
    rate_sum,
    sel,
    status_percent,
)

HTTP = (CLUSTER, APP, USER_ROUTES)
SERVE = (CLUSTER, APP, DEPLOYMENT)
INGRESS_APP = (CLUSTER, APP, MODEL)
REPLICA_APP = (CLUSTER, APP, DEPLOYMENT, MODEL)
BY_DEPLOYMENT = "application, deployment"
# The opt-in queue-wait autoscaling policy (deployments/autoscaling/policy.py).
SLO_POLICY = (
    "a deployment's autoscaling_config.policy is deployments.autoscaling.policy:QueueWaitPolicy"
)
BY_GPU = "ip, GpuIndex, GpuDeviceName"
HTTP_REQUESTS = "ray_serve_num_http_requests_total"


def _zero_when_absent(counter: str) -> str:
    # A counter has no series until it first counts: `or on (model)` adds a 0 line for
    # text models that have run batches but never had this happen.
    items = rate_sum("ray_model_batch_tokens_count", "model", *REPLICA_APP)
    return f"{rate_sum(counter, 'model', *REPLICA_APP)} or on (model) {items} * 0"


def quantiles(histogram: str, by: str, legend: str, *matchers: str) -> tuple[Target, ...]:
    return tuple(
        Target(quantile(q, histogram, by, *matchers), f"{legend} p{q * 100:g}")
        for q in (0.5, 0.9, 0.99)
    )


OVERVIEW = Row(
    "Overview",
    (
        Panel(
            "Requests per second by route",
            "Requests answered by Serve's HTTP proxy, per application and route.",
            (Target(rate_sum(HTTP_REQUESTS, "application, route", *HTTP), "{{route}}"),),
            unit="reqps",
        ),
        Panel(
            "Error % by route",
            "Share of requests answered with a 5xx (server errors, overload included) and "
            "with a 4xx (client errors: bad input, unknown model), at the HTTP proxy.",
            (
                Target(
                    status_percent(
                        'status_code=~"5.."', "application, route", HTTP_REQUESTS, *HTTP
                    ),
                    "{{route}} 5xx",
                ),
                Target(
                    status_percent(
                        'status_code=~"4.."', "application, route", HTTP_REQUESTS, *HTTP
                    ),
                    "{{route}} 4xx",
                ),
            ),
            unit="percent",
        ),
        Panel(
            "Latency by route (p50 / p90 / p99)",
            "End-to-end request latency at the HTTP proxy, from Serve's histogram.",
            quantiles(
                "ray_serve_http_request_latency_ms", "application, route", "{{route}}", *HTTP
            ),
            unit="ms",
        ),
        Panel(
            "Processing latency by deployment (p50 / p90 / p99)",
            "Time a replica spends on one request, per deployment: the ingress includes "
            "its wait for the model, the model deployment its batching and forward pass.",
            quantiles(
                "ray_serve_deployment_processing_latency_ms",
                BY_DEPLOYMENT,
                "{{deployment}}",
                *SERVE,
            ),
            unit="ms",
        ),
        Panel(
            "Requests per second by model and status",
            "Requests of every model route (embeddings, predict, completions) counted by "
            "the ingress, by the model asked for ('unknown' when it is not served) and "
            "HTTP status.",
            (
                Target(
                    rate_sum("ray_model_requests_total", "model, status", *INGRESS_APP),
                    "{{model}} {{status}}",
                ),
            ),
            unit="reqps",
        ),
        Panel(
            "Errors per second by model and type",
            "Failed requests of every model route by error code (invalid_input, "
            "model_not_found, overloaded, payload_too_large, internal_error, ...). A model "
            "without errors shows one line at 0.",
            (
                Target(
                    # `or on (model)` adds the 0 line only for models with no error series.
                    rate_sum("ray_model_errors_total", "model, error_type", *INGRESS_APP)
                    + " or on (model) "
                    + rate_sum("ray_model_requests_total", "model", *INGRESS_APP)
                    + " * 0",
                    "{{model}} {{error_type}}",
                ),
            ),
            unit="reqps",
        ),
    ),
)

PER_MODEL = Row(
    "Per model",
    (
        Panel(
            "Items per second",
            "Inputs per second (texts embedded, rows predicted): a batched model's real "
            "throughput, since one request carries many inputs.",
            (Target(rate_sum("ray_model_items_total", "model", *REPLICA_APP), "{{model}}"),),
            unit="suffix: items/s",
        ),
        Panel(
            "Inference latency per batch (p50 / p90 / p99)",
            "Duration of one forward pass over a whole batch.",
            quantiles("ray_model_inference_seconds", "model", "{{model}}", *REPLICA_APP),
            unit="s",
        ),
        Panel(
            "Batch size (mean / p90)",
            "Inputs per forward pass. Low under load means batching is starved: raise "
            "max_ongoing_requests or batch_wait_timeout_s.",
            (
                Target(mean("ray_model_batch_size", "model", *REPLICA_APP), "{{model}} mean"),
                Target(
                    quantile(0.9, "ray_model_batch_size", "model", *REPLICA_APP),
                    "{{model}} p90",
                ),
            ),
        ),
        Panel(
            "Batch utilisation",
            "Mean inputs per forward pass divided by max_batch_size: how full batches are.",
            (Target(mean("ray_model_batch_utilization", "model", *REPLICA_APP), "{{model}}"),),
            unit="percentunit",
            max=1,
        ),
        Panel(
            "Tokens per batch (mean / p90)",
            "Token positions one forward pass computed (rows x its longest row, padding "
            "included): what a forward pass costs for text models. max_batch_tokens in "
            "user_config bounds it.",
            (
                Target(mean("ray_model_batch_tokens", "model", *REPLICA_APP), "{{model}} mean"),
                Target(
                    quantile(0.9, "ray_model_batch_tokens", "model", *REPLICA_APP),
                    "{{model}} p90",
                ),
            ),
        ),
        Panel(
            "Padding waste",
            "Share of the forward passes' token positions that were padding: every row is "
            "padded to its batch's longest. A token budget (max_batch_tokens) groups "
            "similar lengths to cut it.",
            (
                Target(
                    f"({_zero_when_absent('ray_model_padding_tokens_total')}) / "
                    f"{rate_sum('ray_model_batch_tokens_sum', 'model', *REPLICA_APP)}",
                    "{{model}}",
                ),
            ),
            unit="percentunit",
            max=1,
        ),
        Panel(
            "Inputs dropped past their deadline",
            "Inputs a model replica answered 504 without computing them, because their "
            "request's deadline passed while they waited for a batch.",
            (Target(_zero_when_absent("ray_model_expired_items_total"), "{{model}}"),),
            unit="suffix: items/s",
        ),
        Panel(
            "Queue wait before the batch starts (p50 / p90 / p99)",
            "Time from an input's arrival at a model replica to the start of its batch: "
            "batch_wait_timeout_s plus waiting for the previous forward pass.",
            quantiles("ray_model_queue_wait_seconds", "model", "{{model}}", *REPLICA_APP),
            unit="s",
        ),
        Panel(
            "Queued and in-flight requests",
            "Requests waiting in an ingress replica for one of its model call slots "
            "(max_calls_in_flight; as of each replica's latest call), waiting in Serve's "
            "routers for a free replica slot, in flight at the replicas (a model's are "
            "calls, each carrying the requests that waited), and waiting inside a "
            "replica's batch queue.",
            (
                Target(
                    agg("sum", "model", "ray_model_call_waiting", *INGRESS_APP),
                    "{{model}} waiting for a call slot",
                ),
                Target(
                    agg("sum", "deployment", "ray_serve_deployment_queued_queries", *SERVE),
                    "{{deployment}} waiting for a replica",
                ),
                Target(
                    agg("sum", "deployment", "ray_serve_replica_processing_queries", *SERVE),
                    "{{deployment}} in flight at replicas",
                ),
                Target(
                    agg("sum", "deployment", "ray_serve_batch_queue_length", *SERVE),
                    "{{deployment}} in the batch queue",
                ),
            ),
        ),
        Panel(
            "Requests per model call (mean / p90)",
            "Requests an ingress replica sent together in one call to the model: 1 while "
            "a call slot is free, more under load, when each call carries every request "
            "that waited for it. The model pays Ray's per-call cost once per call.",
            (
                Target(mean("ray_model_call_requests", "model", *INGRESS_APP), "{{model}} mean"),
                Target(
                    quantile(0.9, "ray_model_call_requests", "model", *INGRESS_APP),
                    "{{model}} p90",
                ),
            ),
        ),
        Panel(
            "Input tokens per item (mean / p90)",
            "Tokens per input after truncation; cost per item grows with it.",
            (
                Target(mean("ray_model_input_tokens", "model", *REPLICA_APP), "{{model}} mean"),
                Target(
                    quantile(0.9, "ray_model_input_tokens", "model", *REPLICA_APP),
                    "{{model}} p90",
                ),
            ),
        ),
    ),
)

# ray_serve_deployment_status values (ray.serve._private.common.DeploymentStatus).
DEPLOYMENT_STATUS = {
    0: ("UNKNOWN", "text"),
    1: ("DEPLOY_FAILED", "red"),
    2: ("UNHEALTHY", "red"),
    3: ("UPDATING", "blue"),
    4: ("UPSCALING", "blue"),
    5: ("DOWNSCALING", "blue"),
    6: ("HEALTHY", "green"),
}

AUTOSCALING = Row(
    "Autoscaling",
    (
        Panel(
            "Replicas: target vs healthy",
            "The controller's target replica count (the autoscaling decision within "
            "min/max_replicas), the policy's raw decision before those bounds, and the "
            "replicas passing health checks.",
            (
                Target(
                    agg("max", BY_DEPLOYMENT, "ray_serve_autoscaling_target_replicas", *SERVE),
                    "{{deployment}} target",
                ),
                Target(
                    # One series per replica, 0 once stopped: the sum counts healthy ones.
                    agg("sum", BY_DEPLOYMENT, "ray_serve_deployment_replica_healthy", *SERVE),
                    "{{deployment}} healthy",
                ),
                Target(
                    agg("max", BY_DEPLOYMENT, "ray_serve_autoscaling_desired_replicas", *SERVE),
                    "{{deployment}} policy decision",
                ),
            ),
        ),
        Panel(
            "Autoscaler load vs capacity at target",
            "Requests the autoscaler sees (queued and ongoing) against target replicas x "
            "target_ongoing_requests: above the line it scales out, after upscale_delay_s.",
            (
                Target(
                    agg("max", BY_DEPLOYMENT, "ray_serve_autoscaling_total_requests", *SERVE),
                    "{{deployment}} requests",
                ),
                Target(
                    agg(
                        "max",
                        BY_DEPLOYMENT,
                        "ray_serve_autoscaling_target_ongoing_requests",
                        *SERVE,
                    )
                    + " * "
                    + agg("max", BY_DEPLOYMENT, "ray_serve_autoscaling_target_replicas", *SERVE),
                    "{{deployment}} capacity at target",
                ),
            ),
        ),
        Panel(
            "Deployment status",
            "Serve's status of each deployment, as `serve status` reports it.",
            (
                Target(
                    agg("max", BY_DEPLOYMENT, "ray_serve_deployment_status", *SERVE),
                    "{{deployment}}",
                ),
            ),
            kind="stat",
            unit="none",
            value_names=DEPLOYMENT_STATUS,
        ),
        Panel(
            "Replica starts",
            "Replicas started since the Serve controller started, counted up on every "
            "scale-up and every restart of a crashed or unhealthy replica.",
            (
                Target(
                    agg("sum", BY_DEPLOYMENT, "ray_serve_deployment_replica_starts_total", *SERVE),
                    "{{deployment}}",
                ),
            ),
        ),
        # The SLO policy (deployments/autoscaling/policy.py), exported by the controller.
        Panel(
            "SLO policy: queue wait p95 vs target",
            "What the queue-wait autoscaling policy scales on: the p95 of inputs' wait "
            "inside the model replicas over the last seconds (the worst replica), against "
            "its target_queue_wait_p95_s. Above the target it scales out.",
            (
                Target(
                    agg(
                        "max",
                        BY_DEPLOYMENT,
                        "ray_autoscaling_policy_queue_wait_p95_seconds",
                        *SERVE,
                    ),
                    "{{deployment}} p95",
                ),
                Target(
                    agg("max", BY_DEPLOYMENT, "ray_autoscaling_policy_target_seconds", *SERVE),
                    "{{deployment}} target",
                ),
            ),
            unit="s",
            only_with=SLO_POLICY,
        ),
        Panel(
            "SLO policy: decision",
            "Replicas the queue-wait policy asked for (before Ray's delays and min/max), and "
            "whether it decided on queue wait (1) or fell back to Ray's default policy (0: "
            "too few waits, idle or starting).",
            (
                Target(
                    agg("max", BY_DEPLOYMENT, "ray_autoscaling_policy_desired_replicas", *SERVE),
                    "{{deployment}} asked for",
                ),
                Target(
                    agg("min", BY_DEPLOYMENT, "ray_autoscaling_policy_own_signal", *SERVE),
                    "{{deployment}} on queue wait",
                ),
            ),
            only_with=SLO_POLICY,
        ),
    ),
)

HARDWARE = Row(
    "Hardware",
    (
        Panel(
            "CPU utilisation per node",
            "CPU use of each Ray node, all cores together.",
            (Target(agg("max", "ip", "ray_node_cpu_utilization", CLUSTER), "{{ip}}"),),
            unit="percent",
            max=100,
        ),
        Panel(
            "Memory used per node",
            "Memory in use on each Ray node over its total.",
            (
                Target(
                    agg("max", "ip", "ray_node_mem_used", CLUSTER)
                    + " / "
                    + agg("max", "ip", "ray_node_mem_total", CLUSTER),
                    "{{ip}}",
                ),
            ),
            unit="percentunit",
            max=1,
        ),
        Panel(
            "GPU utilisation per GPU",
            "Utilisation of each GPU as reported by the driver.",
            (
                Target(
                    agg("max", BY_GPU, "ray_node_gpus_utilization", CLUSTER),
                    "{{ip}} GPU {{GpuIndex}} {{GpuDeviceName}}",
                ),
            ),
            unit="percent",
            max=100,
            gpu_only=True,
        ),
        Panel(
            "GPU memory per GPU",
            "GPU memory in use and in total (Ray reports MiB).",
            (
                Target(
                    agg("max", BY_GPU, "ray_node_gram_used", CLUSTER) + " * 1024 * 1024",
                    "{{ip}} GPU {{GpuIndex}} used",
                ),
                Target(
                    "("
                    + agg("max", BY_GPU, "ray_node_gram_used", CLUSTER)
                    + " + "
                    + agg("max", BY_GPU, "ray_node_gram_available", CLUSTER)
                    + ") * 1024 * 1024",
                    "{{ip}} GPU {{GpuIndex}} total",
                ),
            ),
            unit="bytes",
            gpu_only=True,
        ),
    ),
)

VARIABLES = (
    # SessionName is the only label Ray puts on every series that tells clusters apart
    # (it changes when the cluster restarts).
    Variable(
        "cluster", "Cluster (Ray session)", "label_values(ray_node_cpu_utilization, SessionName)"
    ),
    Variable(
        "application",
        "Application",
        f"label_values({sel('ray_serve_deployment_status', CLUSTER)}, application)",
    ),
    Variable(
        "deployment",
        "Deployment",
        f"label_values({sel('ray_serve_deployment_status', CLUSTER, APP)}, deployment)",
    ),
    Variable(
        "model",
        "Model",
        # The ingress counts the requests of every kind of model.
        f"label_values({sel('ray_model_requests_total', CLUSTER, APP)}, model)",
    ),
)
