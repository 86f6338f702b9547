"""Who is calling and what they may do: API keys, JWTs, scopes, rate limits.

Runs in the ingress replica (``manage_keys`` also as a CLI). May import the root package;
never an HTTP framework, ``deployments.ingress`` or ``deployments.models``: the ingress's
middleware hands it header values and turns its errors into HTTP.
"""
