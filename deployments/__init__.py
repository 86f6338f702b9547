"""Ray Serve application: a FastAPI ingress routing to batched PyTorch model deployments.

Four rooms, one per process boundary (tests/unit/test_layout.py holds the rules):

- this package's own modules (``config``, ``contracts``, ``errors``, ``metrics``,
  ``model_manifest``): run in every process; pydantic, numpy, yaml and
  ``ray.serve.metrics`` only, never FastAPI/Starlette, torch or a subpackage;
  ``app`` alone binds the subpackages together;
- ``ingress/``: the FastAPI ingress replica (no torch);
- ``security/``: credentials, scopes and rate limits, used by the ingress (no HTTP);
- ``models/``: the PyTorch model replicas (no HTTP).
"""
