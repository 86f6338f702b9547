"""Model replicas: PyTorch behind Serve deployments, batched.

Runs in model replicas. May import the root package and torch; never FastAPI/Starlette,
``deployments.ingress`` or ``deployments.security`` (tests/unit/test_layout.py). Callers
speak to these deployments only in the types of ``deployments.contracts``.
"""
