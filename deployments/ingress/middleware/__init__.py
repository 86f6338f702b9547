"""ASGI middleware of the ingress, outermost first, in the order a request meets them:

1. ``request_metrics`` - stamps the request's context and counts its final status;
2. ``errors`` - every exception that escapes becomes a mapped JSON error (one table);
3. ``access`` - authentication and rate limits, before any body byte is read;
4. ``body_limits`` - media type, size and UTF-8, before the body is parsed.
"""
