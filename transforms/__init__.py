"""Pure logic of piiflow: detection, de-identification operators, risk metrics, retention predicates.

Nothing in this package does I/O or imports Prefect; ``flows`` calls it.
"""
