"""Schemathesis fuzzes the live API from the /openapi.json it serves.

Every operation gets schema-conforming (positive) and schema-violating (negative) requests,
as the admin key and with a key that does not exist; POST /v1/embeddings and POST
/v1/completions also get positive requests pinned to a served model of their kind, and
POST /v2/models/{name}/infer (the Open Inference Protocol) to iris-classifier, so
generated input reaches the real models and their checks. Every response must be
documented (status code, headers, content type, body schema) and none may be a 5xx.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import APIOperation, BaseSchema, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.live_cluster import GENERATOR, MODEL, LiveCluster

PREDICTOR = "iris-classifier"

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
POSITIVE, NEGATIVE = GenerationMode.POSITIVE, GenerationMode.NEGATIVE
WRONG_KEY = "rsk_" + "A" * 43
DEADLINE_HEADER = "X-Request-Timeout-Ms"
# A client that asks for a 1 ms deadline gets its 504 by design (tests/integration/
# test_deadlines.py); here every request has time enough, so any 5xx would be a bug.
ENOUGH_TIME = {DEADLINE_HEADER: "25000"}  # serve_config.yaml: max_deadline_s
MIN_CASES = 1000

# (credentials, mode, pin the model) -> examples per operation. Negative cases need a body
# to violate (a string path parameter cannot be); operations without any input (GET
# /v1/models, the probes) run once per credentials.
PLAN: dict[tuple[str, GenerationMode, bool], int] = {
    ("admin", POSITIVE, True): 200,
    ("admin", POSITIVE, False): 200,
    ("admin", NEGATIVE, False): 200,
    ("wrong", POSITIVE, False): 100,
    ("wrong", NEGATIVE, False): 100,
}


# Operations whose positive cases are also sent pinned to a served model of their kind:
# by the body's `model`, or (the Open Inference Protocol's) by the `name` in the path.
PINNED = {"POST /v1/embeddings": MODEL, "POST /v1/completions": GENERATOR}
PINNED_PATH = {"POST /v2/models/{name}/infer": PREDICTOR}


def pin_model(case: Case) -> Case:
    label = case.operation.label
    if label in PINNED_PATH:
        case.path_parameters = (case.path_parameters or {}) | {"name": PINNED_PATH[label]}
    elif isinstance(case.body, dict):
        case.body["model"] = PINNED[label]
    return case


def operations(schema: BaseSchema) -> list[APIOperation]:
    found = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()  # the document itself is broken
        found.append(result.ok())
    return found


def takes_deadline(operation: APIOperation) -> bool:
    return any(p.name == DEADLINE_HEADER for p in operation.iter_parameters())


def takes_input(operation: APIOperation) -> bool:
    return bool(operation.body) or any(True for _ in operation.iter_parameters())


class Fuzzer:
    """Sends generated cases to the live cluster and tallies the answers.

    Requests go out through httpx: schemathesis's own `requests` transport trips over
    urllib3-future, which niquests (a dependency) installs in place of urllib3.
    """

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.client = httpx.Client(timeout=60)
        self.statuses: Counter[tuple[str, str, int]] = Counter()

    def send(self, case: Case, headers: dict[str, str]) -> httpx.Response:
        request = case.as_transport_kwargs(base_url=self.base_url, headers=headers)
        body: dict[str, Any] = {}
        if "json" in request:
            body["json"] = request["json"]
        elif isinstance(request.get("data"), bytes | str):
            body["content"] = request["data"]
        elif "data" in request:
            body["data"] = request["data"]
        return self.client.request(
            request["method"],
            request["url"],
            params=request.get("params"),
            headers=request["headers"],
            cookies=request.get("cookies"),
            **body,
        )

    def run(
        self,
        operation: APIOperation,
        strategy: st.SearchStrategy[Case],
        examples: int,
        who: str,
        headers: dict[str, str],
    ) -> None:
        @given(case=strategy)
        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: Case) -> None:
            response = self.send(case, headers)
            self.statuses[(operation.label, who, response.status_code)] += 1
            case.validate_response(response, checks=CHECKS, headers=headers)

        fuzz()


def test_fuzz_the_live_openapi(cluster: LiveCluster) -> None:
    # from_url also validates the document against the OpenAPI meta-schema.
    schema = schemathesis.openapi.from_url(f"{cluster.base_url}/openapi.json", timeout=30)
    # The credentials are ours to choose (below), not generated from the security schemes.
    schema.config.generation.update(with_security_parameters=False)
    credentials = {
        "admin": cluster.auth_headers(),
        "wrong": {"Authorization": f"Bearer {WRONG_KEY}"},
    }
    fuzzer = Fuzzer(cluster.base_url)
    for operation in operations(schema):
        for (who, mode, pinned), examples in PLAN.items():
            if (pinned and operation.label not in PINNED | PINNED_PATH) or (
                mode is NEGATIVE and not operation.body
            ):
                continue
            if not takes_input(operation):
                examples = 1
            strategy: st.SearchStrategy[Case] = operation.as_strategy(
                generation_mode=mode, headers=ENOUGH_TIME if takes_deadline(operation) else None
            )
            if pinned:
                strategy = strategy.map(pin_model)
            fuzzer.run(operation, strategy, examples, who, credentials[who])

    statuses = fuzzer.statuses
    by_status: Counter[int] = Counter()
    for (_, _, status), n in statuses.items():
        by_status[status] += n
    cases = sum(by_status.values())
    server_errors = sum(n for status, n in by_status.items() if status >= 500)
    print(
        f"schemathesis: {cases} cases, {server_errors} 5xx, by status {sorted(by_status.items())}"
    )
    for (label, who, status), n in sorted(statuses.items()):
        print(f"  {label} as {who}: {status} x{n}")
    assert cases >= MIN_CASES
    assert server_errors == 0
    # The generated traffic did reach the paths that matter.
    assert {200, 401, 404, 422} <= set(by_status)
    assert statuses[("POST /v1/embeddings", "admin", 200)] > 0
    assert all(
        status == 401
        for (label, who, status) in statuses
        if who == "wrong" and ("/v1/" in label or ("/v2" in label and "/health/" not in label))
    )
    # The Open Inference Protocol's routes were fuzzed too, down to the model.
    assert statuses[("POST /v2/models/{name}/infer", "admin", 400)] > 0
