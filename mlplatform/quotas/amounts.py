"""Amounts of a flavor: the one type that quotas, workload requests, admission and the APIs speak.

Pure (standard library only): `Amounts` is GPUs, vCPUs and memory of one flavor; `Limits` is a
borrowing or lending limit per resource, where None means no limit. Quota rows
(`ProjectQuota.nominal`), workload requests (`WorkloadSpec.requests()`, `WorkloadRequest.amounts`),
admission and the usage the APIs report are all Amounts.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

__all__ = ["UNLIMITED", "Amounts", "Limits"]

_ZERO = Decimal(0)


def _decimal(value: object) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, int | str):
        return Decimal(value)
    raise TypeError(f"expected a number, got {value!r}")


def _integer(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, Decimal | float) and value == int(value):
        return int(value)
    raise TypeError(f"expected a whole number of GPUs, got {value!r}")


@dataclass(frozen=True, slots=True)
class Amounts:
    """An amount of one flavor: GPUs, vCPUs and memory. `cpu` and `memory_gib` become Decimals."""

    gpus: int = 0
    cpu: Decimal = _ZERO
    memory_gib: Decimal = _ZERO

    def __post_init__(self) -> None:
        object.__setattr__(self, "gpus", _integer(self.gpus))
        object.__setattr__(self, "cpu", _decimal(self.cpu))
        object.__setattr__(self, "memory_gib", _decimal(self.memory_gib))

    @classmethod
    def of(cls, amounts: Amounts) -> Amounts:
        """The plain amounts of anything that is one (a replica's Resources, say)."""
        return cls(amounts.gpus, amounts.cpu, amounts.memory_gib)

    def __add__(self, other: Amounts) -> Amounts:
        if not isinstance(other, Amounts):
            return NotImplemented
        return Amounts(self.gpus + other.gpus, self.cpu + other.cpu, self.memory_gib + other.memory_gib)

    def __sub__(self, other: Amounts) -> Amounts:
        if not isinstance(other, Amounts):
            return NotImplemented
        return Amounts(self.gpus - other.gpus, self.cpu - other.cpu, self.memory_gib - other.memory_gib)

    def __mul__(self, count: int) -> Amounts:
        if not isinstance(count, int) or isinstance(count, bool):
            return NotImplemented
        return Amounts(self.gpus * count, self.cpu * count, self.memory_gib * count)

    __rmul__ = __mul__

    def __le__(self, other: Amounts) -> bool:
        """Every resource at most the other's (a partial order: `not a <= b` does not mean `b <= a`)."""
        if not isinstance(other, Amounts):
            return NotImplemented
        return self.gpus <= other.gpus and self.cpu <= other.cpu and self.memory_gib <= other.memory_gib

    def __ge__(self, other: Amounts) -> bool:
        if not isinstance(other, Amounts):
            return NotImplemented
        return other <= self

    def fits(self, capacity: Amounts) -> bool:
        """True when this request fits in `capacity`, resource by resource."""
        return self <= capacity

    def floor(self) -> Amounts:
        """Negative resources as zero: what is left of a quota, never less than nothing."""
        return Amounts(max(self.gpus, 0), max(self.cpu, _ZERO), max(self.memory_gib, _ZERO))

    @property
    def is_zero(self) -> bool:
        return not (self.gpus or self.cpu or self.memory_gib)

    def as_tuple(self) -> tuple[int, Decimal, Decimal]:
        return (self.gpus, self.cpu, self.memory_gib)


@dataclass(frozen=True, slots=True)
class Limits:
    """A borrowing or lending limit per resource; None means no limit."""

    gpus: int | None = None
    cpu: Decimal | None = None
    memory_gib: Decimal | None = None

    def __post_init__(self) -> None:
        if self.gpus is not None:
            object.__setattr__(self, "gpus", _integer(self.gpus))
        if self.cpu is not None:
            object.__setattr__(self, "cpu", _decimal(self.cpu))
        if self.memory_gib is not None:
            object.__setattr__(self, "memory_gib", _decimal(self.memory_gib))

    def as_tuple(self) -> tuple[int | None, Decimal | None, Decimal | None]:
        return (self.gpus, self.cpu, self.memory_gib)


UNLIMITED = Limits()
