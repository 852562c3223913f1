"""The machine's GPUs and who holds them: a JSON ledger under an fcntl lock, shared by every worker.

An allocation is owned by a replica folder; `GpuLedger.allocate` asks the caller whether each
owner still holds its GPUs (its replica has not ended), so an ended or dead replica frees them
without anyone having to remember to.
"""

from __future__ import annotations

import fcntl
import functools
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from mlplatform.compute.backends.base import BackendError
from mlplatform.compute.backends.local.launcher import write_json
from mlplatform.quotas.inventory import nvidia_smi


def detect_gpus(override: int | str | Sequence[int | str] | None = None) -> tuple[str, ...]:
    """GPU indexes for CUDA_VISIBLE_DEVICES: from `override` (a count, "0,2", or a list) where given,
    else from `nvidia-smi`; none where it is missing or fails."""
    if override is None or override == "":
        return nvidia_smi_gpus()
    if isinstance(override, int) or (isinstance(override, str) and override.strip().isdigit()):
        return tuple(str(index) for index in range(int(override)))
    if isinstance(override, str):
        override = override.split(",")
    return tuple(str(gpu).strip() for gpu in override if str(gpu).strip())


@functools.cache
def nvidia_smi_gpus() -> tuple[str, ...]:
    return tuple(nvidia_smi("index"))


class GpuLedger:
    """Which of `inventory` each owner holds, in `path` (a JSON object {gpu: owner})."""

    def __init__(self, path: Path, inventory: Sequence[str]):
        self.path = path
        self.inventory = tuple(inventory)

    def allocate(self, wants: Mapping[str, int], holds: Callable[[str], bool]) -> dict[str, list[str]]:
        """`wants[owner]` GPUs for each owner, all or none; an owner keeps what it already holds.

        `holds(owner)` says whether an earlier owner still holds its GPUs. Raises a temporary
        BackendError when too few are free.
        """
        needed = sum(wants.values())
        if needed > len(self.inventory):
            raise BackendError(
                f"needs {needed} GPUs, this machine has {len(self.inventory)}", temporary=False
            )
        with self._locked():
            held = {
                gpu: owner for gpu, owner in self._read().items() if gpu in self.inventory and holds(owner)
            }
            free = [gpu for gpu in self.inventory if gpu not in held]
            handed: dict[str, list[str]] = {}
            for owner, count in wants.items():
                mine = [gpu for gpu, holder in held.items() if holder == owner][:count]
                while len(mine) < count and free:
                    mine.append(free.pop(0))
                if len(mine) < count:
                    raise BackendError(
                        f"needs {needed} GPUs, {len(self.inventory) - len(held)} of {len(self.inventory)} "
                        "are free on this machine",
                        temporary=True,
                    )
                handed[owner] = mine
            for owner, gpus in handed.items():
                held.update(dict.fromkeys(gpus, owner))
            write_json(self.path, dict(sorted(held.items())))
            return handed

    def held_by(self) -> dict[str, list[str]]:
        """The GPUs each owner was handed, as last written (a read: no lock, the file is replaced whole)."""
        held: dict[str, list[str]] = {}
        for gpu, owner in self._read().items():
            held.setdefault(owner, []).append(gpu)
        return held

    def _read(self) -> dict[str, str]:
        try:
            return json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield
