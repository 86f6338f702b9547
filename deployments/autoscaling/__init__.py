"""Custom Ray Serve autoscaling policies; they run in the Serve controller.

May import the root package and ``ray.serve``; never torch, FastAPI/Starlette, or the
ingress, security and models rooms (tests/unit/test_layout.py).
"""
