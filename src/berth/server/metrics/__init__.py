"""Prometheus metrics of a server: the families, request counting per protocol, sampled gauges, the scrape."""
