"""The machine a benchmark or a training run measured on, for the records next to its numbers."""

from __future__ import annotations

from pathlib import Path


def cpu_model() -> str:
    """CPU name and widest vector extension, for benchmark and training records ("AMD EPYC, AVX-512 VNNI")."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown CPU"
    fields: dict[str, str] = {}
    for line in info.splitlines():  # one block per logical CPU; the first one's values serve
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())
    flags = set(fields.get("flags", "").split())
    simd = ("AVX-512 VNNI" if "avx512_vnni" in flags else "AVX-512" if "avx512f" in flags
            else "AVX2" if "avx2" in flags else "no AVX2")
    return f"{fields.get('model name', 'unknown CPU')}, {simd}"
