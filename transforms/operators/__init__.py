"""De-identification operators: pure, vectorised column functions ``op(values: pa.Array, *, ...) -> pa.Array``.

One module per operator (``<name>_operator.py``), registered on import under the name its declaration has in
:mod:`configs.operators`, as recognizers register in :mod:`transforms.recognizers`. Parameters are keyword-only and
match the declaration. Nulls pass through. Where values repeat, the work is done once per distinct value
(dictionary-encode, transform the dictionary, take). A declared operator without an implementation fails here, at
import.
"""

from configs.operators import OPERATORS
from transforms.operators.base import (
    IMPLEMENTATIONS,
    Implementation,
    apply_operator,
    factorize,
    first_index,
    implements,
    map_distinct,
)
from transforms.operators.birth_year_band_operator import birth_year_band
from transforms.operators.bucket_operator import bucket
from transforms.operators.drop_operator import drop
from transforms.operators.generalize_device_operator import generalize_device
from transforms.operators.generalize_gps_operator import generalize_gps
from transforms.operators.generalize_ip_operator import generalize_ip
from transforms.operators.generalize_place_operator import generalize_place
from transforms.operators.keep_operator import keep
from transforms.operators.mask_operator import mask
from transforms.operators.pseudonymize_operator import pseudonymize
from transforms.operators.redact_entities_operator import redact_entities, redact_text
from transforms.operators.suppress_operator import suppress
from transforms.operators.truncate_time_operator import truncate_time

_missing = [name for name in OPERATORS if name not in IMPLEMENTATIONS]
if _missing:
    raise ImportError(f"operators declared in configs/operators.py without an implementation in "
                      f"transforms/operators/: {', '.join(_missing)}")

__all__ = ["IMPLEMENTATIONS", "Implementation", "apply_operator", "birth_year_band", "bucket", "drop", "factorize",
           "first_index", "generalize_device", "generalize_gps", "generalize_ip", "generalize_place",
           "implements", "keep",
           "map_distinct", "mask", "pseudonymize", "redact_entities", "redact_text", "suppress", "truncate_time"]
