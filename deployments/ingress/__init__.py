"""The ingress replica: HTTP in, DeploymentHandle calls out.

Runs in the FastAPI ingress deployment. May import the root package, ``security`` and
FastAPI/Starlette; never torch nor ``deployments.models`` (tests/unit/test_layout.py):
models are reached only through DeploymentHandles, with what crosses them defined in
``deployments.contracts``.
"""
