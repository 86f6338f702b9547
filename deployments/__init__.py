"""Ray Serve application: a FastAPI ingress routing to batched PyTorch model deployments."""
