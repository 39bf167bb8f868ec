"""Orchestration and I/O: Prefect flows and tasks, storage adapters, reports, the CLI."""
