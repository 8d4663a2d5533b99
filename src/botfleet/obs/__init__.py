"""Observability: Prometheus metrics, structured logs, secret masking and health checks.

Ground floor: modules here import nothing of botfleet's but `config/` types, so every layer can
report through them. This package imports none of its modules, so each can be added and imported
on its own (`botfleet.obs.metrics`, `botfleet.obs.logs`, `botfleet.obs.masking`, ...).
"""
