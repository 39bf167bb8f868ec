"""piiflow's text operators as Presidio anonymizer operators, for Presidio users:

    engine = AnonymizerEngine()
    register_operators(engine)
    engine.anonymize(text, results, {"PHONE_NUMBER": OperatorConfig("piiflow_pseudonymize", {"key": key})})
"""

from __future__ import annotations

import pyarrow as pa
from presidio_anonymizer.operators import Operator, OperatorType

from transforms import operators as ops


class _PiiflowOperator(Operator):
    NAME = ""

    def operator_name(self) -> str:
        return self.NAME

    def operator_type(self) -> OperatorType:
        return OperatorType.Anonymize

    @staticmethod
    def _one(fn, text: str, **kw) -> str:
        out = fn(pa.array([text], pa.string()), **kw).to_pylist()[0]
        return "" if out is None else out


class PseudonymizeOperator(_PiiflowOperator):
    """Keyed HMAC-SHA256 token (params: ``key`` bytes or str of 32+ characters, optional ``length``, ``prefix``)."""

    NAME = "piiflow_pseudonymize"

    def validate(self, params: dict | None = None) -> None:
        key = (params or {}).get("key")
        if not key or len(key) < 32:
            raise ValueError("piiflow_pseudonymize needs a 'key' of at least 32 characters")

    def operate(self, text: str = None, params: dict = None) -> str:
        key = params["key"]
        return self._one(ops.pseudonymize, text, key=key.encode() if isinstance(key, str) else key,
                         length=params.get("length", 16), prefix=params.get("prefix", ""))


class GeneralizeIpOperator(_PiiflowOperator):
    """The address's network in CIDR notation (params: ``v4_prefix``, ``v6_prefix``)."""

    NAME = "piiflow_generalize_ip"

    def validate(self, params: dict | None = None) -> None:
        p = params or {}
        if not 0 <= int(p.get("v4_prefix", 24)) <= 32 or not 0 <= int(p.get("v6_prefix", 48)) <= 128:
            raise ValueError("piiflow_generalize_ip: v4_prefix must be 0-32 and v6_prefix 0-128")

    def operate(self, text: str = None, params: dict = None) -> str:
        p = params or {}
        return self._one(ops.generalize_ip, text, v4_prefix=int(p.get("v4_prefix", 24)),
                         v6_prefix=int(p.get("v6_prefix", 48)))


class BirthYearBandOperator(_PiiflowOperator):
    """A resident ID -> its band of birth years (param: ``width``)."""

    NAME = "piiflow_birth_year_band"

    def validate(self, params: dict | None = None) -> None:
        if int((params or {}).get("width", 10)) < 1:
            raise ValueError("piiflow_birth_year_band: width must be positive")

    def operate(self, text: str = None, params: dict = None) -> str:
        return self._one(ops.birth_year_band, text, width=int((params or {}).get("width", 10))) or "<CN_RESIDENT_ID>"


OPERATORS = (PseudonymizeOperator, GeneralizeIpOperator, BirthYearBandOperator)


def register_operators(engine) -> None:
    """Add piiflow's operators to a Presidio ``AnonymizerEngine``."""
    for cls in OPERATORS:
        engine.add_anonymizer(cls)
