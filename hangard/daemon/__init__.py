"""The long-running service: scheduler, reload, metrics, health endpoints."""
