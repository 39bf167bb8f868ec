"""What a catalog may declare as a column's operator: one frozen model per operator, in one registry.

Each model is the operator's declaration: its name (the ``op`` tag), its typed parameters, what kinds of column it
may treat safely, and its generalisation ladder (the coarser operators the release gate may climb to, as ARX's
hierarchies are part of a data definition). The implementation, a pure column function of the same name and
parameters, lives in ``transforms/operators/``; that package refuses, at import, a declared operator without
one. Adding an operator is a model here (decorated :func:`declare`), a module there, and a row in the operators'
test table.

A bare string in a catalog is shorthand for ``{op: <name>}``.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

from configs.registry import Registry


class FrozenModel(BaseModel):
    """The base of every catalog model: immutable, and an unknown key is an error."""

    model_config = ConfigDict(frozen=True, extra="forbid")


#: Every operator by name, in declaration order. Filled by :func:`declare`.
OPERATORS: Registry[type["OperatorSpec"]] = Registry("operator")


def declare(cls: type["OperatorSpec"]) -> type["OperatorSpec"]:
    """Class decorator registering an operator model under its ``op`` name; a name that is taken raises at import."""
    return OPERATORS.add(cls.model_fields["op"].default, cls, f"{cls.__module__}.{cls.__qualname__}")


class OperatorSpec(FrozenModel):
    """The declaration of one operator. Subclasses set ``op`` (a ``Literal`` with its name as default)."""

    op: str
    #: May a catalog name it? (``suppress`` is only ever reached by the gate, at the top of a ladder.)
    DECLARABLE: ClassVar[bool] = True
    #: Safe on a column of kind ``direct`` (nothing of the identifier is left in clear, or only a keyed token).
    DIRECT_SAFE: ClassVar[bool] = False
    #: Safe on a column of kind ``free_text``.
    FREE_TEXT_SAFE: ClassVar[bool] = False

    def params(self) -> dict[str, Any]:
        """The operator's parameters (everything but ``op``): the keyword arguments of its implementation."""
        return {k: v for k, v in self.model_dump().items() if k != "op"}

    def ladder(self) -> list["OperatorSpec"]:
        """This operator, then ever coarser ones (coarser never splits what finer grouped). An operator with
        nothing to walk (drop, pseudonymize, redaction) is its own whole ladder."""
        return [self]

    def meaning(self, tz: str = "Asia/Shanghai") -> str:
        """What a released value of this operator is, for a data dictionary (override per operator)."""
        return self.describe()

    def describe(self) -> str:
        """``generalize_ip(v4_prefix=8, v6_prefix=32)``: the name and the parameters that are set."""
        params = {k: v for k, v in self.params().items() if v is not None}
        return self.op + (f"({', '.join(f'{k}={v}' for k, v in params.items())})" if params else "")


class _Generalizing(OperatorSpec):
    """An operator a quasi-identifier can climb: its :meth:`steps`, then ``suppress`` (the column hidden)."""

    def steps(self) -> list[OperatorSpec]:
        return [self]

    def ladder(self) -> list[OperatorSpec]:
        return self.steps() + [Suppress()]


@declare
class Keep(_Generalizing):
    op: Literal["keep"] = "keep"

    def meaning(self, tz: str = "Asia/Shanghai") -> str:
        return "as recorded"


@declare
class Drop(OperatorSpec):
    op: Literal["drop"] = "drop"
    DIRECT_SAFE: ClassVar[bool] = True
    FREE_TEXT_SAFE: ClassVar[bool] = True

    def meaning(self, tz: str = "Asia/Shanghai") -> str:
        return "not released"


@declare
class Pseudonymize(OperatorSpec):
    """Keyed HMAC-SHA256 token; the key is derived per recipient from the master key."""

    op: Literal["pseudonymize"] = "pseudonymize"
    length: int = Field(16, ge=8, le=64, description="hex characters kept from the HMAC")
    prefix: str = ""
    DIRECT_SAFE: ClassVar[bool] = True

    def meaning(self, tz: str = "Asia/Shanghai") -> str:
        return (f"a pseudonym ({self.length} hex characters{f' after {self.prefix!r}' if self.prefix else ''}): "
                f"the same value gives the same pseudonym within this release, and another in any other release")


@declare
class Mask(_Generalizing):
    op: Literal["mask"] = "mask"
    keep_first: int = Field(0, ge=0)
    keep_last: int = Field(4, ge=0)
    char: str = Field("*", min_length=1, max_length=1)

    def meaning(self, tz: str = "Asia/Shanghai") -> str:
        return f"masked with {self.char!r} but for the first {self.keep_first} and last {self.keep_last} characters"


@declare
class GeneralizeIp(_Generalizing):
    op: Literal["generalize_ip"] = "generalize_ip"
    v4_prefix: int = Field(24, ge=0, le=32)
    v6_prefix: int = Field(48, ge=0, le=128)

    def meaning(self, tz: str = "Asia/Shanghai") -> str:
        return f"the network the address is in, as CIDR text (IPv4 /{self.v4_prefix}, IPv6 /{self.v6_prefix})"

    def steps(self) -> list[OperatorSpec]:
        # (no /0: 0.0.0.0/0 says nothing but "IPv4"; the ladder's top hides the value as a null instead)
        coarser = [(v4, v6) for v4, v6 in ((16, 32), (8, 16)) if v4 < self.v4_prefix and v6 <= self.v6_prefix]
        return [self] + [GeneralizeIp(v4_prefix=a, v6_prefix=b) for a, b in coarser]


@declare
class GeneralizeGps(_Generalizing):
    """Snap positions to a grid: ``decimals`` of a degree, or ``grid_km`` kilometres (which wins when given)."""

    op: Literal["generalize_gps"] = "generalize_gps"
    decimals: int = Field(2, ge=0, le=6)
    grid_km: float | None = Field(None, gt=0)

    def meaning(self, tz: str = "Asia/Shanghai") -> str:
        cell = f"{self.grid_km} km" if self.grid_km else f"{10 ** -self.decimals:g} degree"
        return f"the south-west corner of the {cell} grid cell the position is in, as 'lat,lon' text"

    def steps(self) -> list[OperatorSpec]:
        if self.grid_km is not None:
            return [self]
        return [self] + [GeneralizeGps(decimals=d) for d in range(self.decimals - 1, -1, -1)]


#: Levels of :class:`GeneralizePlace`, finest first.
PLACE_LEVELS = ("city", "province", "country")
_PLACE_NAMES = {"city": "city (地级市: prefecture-level city, municipality or county-level city under its province)",
                "province": "province (省级: province, autonomous region, municipality or SAR)",
                "country": "country"}


@declare
class GeneralizePlace(_Generalizing):
    """A position to the city, province or country it is in, by name, from China's administrative divisions
    (:mod:`transforms.places`): the units analysts group by."""

    op: Literal["generalize_place"] = "generalize_place"
    to: Literal["city", "province", "country"] = "city"

    def meaning(self, tz: str = "Asia/Shanghai") -> str:
        return (f"the {_PLACE_NAMES[self.to]} the position is in, by its Chinese name (成都市, 四川省, 中国): the "
                f"division of the nearest county seat (GB/T 2260 divisions as the cpca package ships them; a "
                f"position within a few km of a border may fall on the neighbouring side); null outside China")

    def steps(self) -> list[OperatorSpec]:
        return [GeneralizePlace(to=t) for t in PLACE_LEVELS[PLACE_LEVELS.index(self.to):]]


_TIME_STEPS = ("hour", "day", "week", "month")


@declare
class TruncateTime(_Generalizing):
    op: Literal["truncate_time"] = "truncate_time"
    to: Literal["hour", "day", "week", "month"] = "hour"

    def meaning(self, tz: str = "Asia/Shanghai") -> str:
        return (f"the start of the {self.to} (weeks start on Monday, or on the 1st where a month begins mid-week), "
                f"local {tz} wall-clock time, stored as a timestamp without time zone")

    def steps(self) -> list[OperatorSpec]:
        return [TruncateTime(to=t) for t in _TIME_STEPS[_TIME_STEPS.index(self.to):]]


@declare
class GeneralizeDevice(_Generalizing):
    """``level`` 1: model -> brand, OS version -> family and major; 2: everything hidden (the same as suppress,
    so the ladder is this operator, then suppress)."""

    op: Literal["generalize_device"] = "generalize_device"
    level: int = Field(1, ge=1, le=2)

    def meaning(self, tz: str = "Asia/Shanghai") -> str:
        return "the brand of the device model (an OS version: its family and major version); unknown: 'other'"


@declare
class Bucket(_Generalizing):
    op: Literal["bucket"] = "bucket"
    width: float = Field(gt=0)

    def meaning(self, tz: str = "Asia/Shanghai") -> str:
        return f"the lower bound of the value's bucket of width {self.width:g} (the bucket is [value, value + width))"

    def steps(self) -> list[OperatorSpec]:
        return [Bucket(width=self.width * m) for m in (1, 2, 5, 10)]


@declare
class BirthYearBand(_Generalizing):
    """Resident ID -> the band of birth years it falls in (``1990-1999``); anything else becomes null."""

    op: Literal["birth_year_band"] = "birth_year_band"
    width: int = Field(10, ge=1, le=100)

    def meaning(self, tz: str = "Asia/Shanghai") -> str:
        return f"the {self.width}-year band of birth years the ID's holder was born in, as 'YYYY-YYYY' text"

    def steps(self) -> list[OperatorSpec]:
        return [BirthYearBand(width=w) for w in sorted({self.width, 20, 50}) if w >= self.width]


@declare
class RedactEntities(OperatorSpec):
    op: Literal["redact_entities"] = "redact_entities"
    style: Literal["type", "numbered"] = "type"
    FREE_TEXT_SAFE: ClassVar[bool] = True

    def meaning(self, tz: str = "Asia/Shanghai") -> str:
        return "the text, with every personal identifier found replaced by <TYPE>" + (
            " (<TYPE_n>: the same value, the same n)" if self.style == "numbered" else "")


@declare
class Suppress(OperatorSpec):
    """Not declared by users: the top of every generalisation ladder, every value hidden as a typed null."""

    op: Literal["suppress"] = "suppress"
    DECLARABLE: ClassVar[bool] = False

    def meaning(self, tz: str = "Asia/Shanghai") -> str:
        return "hidden: null (a hidden value and a value missing from the source look alike)"


#: The names a catalog may use, in declaration order.
OPERATOR_NAMES: tuple[str, ...] = tuple(n for n, cls in OPERATORS.items() if cls.DECLARABLE)
#: Operators acceptable on a column of kind ``direct``.
DIRECT_SAFE_OPERATORS = frozenset(n for n, cls in OPERATORS.items() if cls.DIRECT_SAFE)
#: Operators acceptable on a column of kind ``free_text``.
FREE_TEXT_SAFE_OPERATORS = frozenset(n for n, cls in OPERATORS.items() if cls.FREE_TEXT_SAFE)


def op_shorthand(value: Any) -> Any:
    """A bare operator name stands for ``{op: <name>}``."""
    return {"op": value} if isinstance(value, str) else value


#: A column's operator as a catalog declares it: a union of the declarable models discriminated on ``op``
#: (validate with :func:`op_shorthand` before, so that a bare name is accepted).
Operator = Annotated[
    Union[tuple(cls for cls in OPERATORS.values() if cls.DECLARABLE)],  # type: ignore[valid-type]
    Field(discriminator="op"),
]
