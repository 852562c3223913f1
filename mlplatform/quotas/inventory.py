"""The GPUs of this machine, for the embedded default's quotas (`nvidia-smi` when present)."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter

# nvidia-smi product names to our flavors, most specific first.
_PRODUCTS = [
    (r"H200", "nvidia-h200-141gb"),
    (r"H100", "nvidia-h100-80gb"),
    (r"A100.*80\s*GB", "nvidia-a100-80gb"),
    (r"A100", "nvidia-a100-40gb"),
    (r"\bL4\b", "nvidia-l4"),
    (r"V100", "nvidia-tesla-v100"),
    (r"\bT4\b", "nvidia-tesla-t4"),
]
GENERIC_FLAVOR = "nvidia-gpu"


def flavor_for_product(product: str) -> str:
    for pattern, flavor in _PRODUCTS:
        if re.search(pattern, product, re.IGNORECASE):
            return flavor
    return GENERIC_FLAVOR


def nvidia_smi(field: str, *, query: str = "gpu") -> list[str]:
    """`nvidia-smi --query-{query}={field}` (fields comma-separated), a line per GPU (or, for
    query="compute-apps", per process on one); empty without nvidia-smi or when it fails."""
    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", f"--query-{query}={field}", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


def detect_gpus() -> Counter[str]:
    """GPU count per flavor name; empty without nvidia-smi or when it fails."""
    return Counter(flavor_for_product(name) for name in nvidia_smi("name"))
