"""Watching the product run: structured JSON logs with a request id (logs.py) and Prometheus metrics
(metrics.py)."""
