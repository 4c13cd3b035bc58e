"""Fine-tuning, export and evaluation of the sentiment model (``python -m insights.training``).

Heavy dependencies (torch, transformers, scikit-learn) live in the ``train`` extra and are
imported inside the modules that need them, never by the server.
"""

from pathlib import Path

LABELS: tuple[str, ...] = ("negative", "neutral", "positive")

#: The version folder the model is published under (model_repository/sentiment/<version>/model.onnx).
#: Bump it with every new artefact (retrained or quantized differently): the server reports it with each
#: answer, and Triton serves it.
#: The repository keeps only this version; earlier ones live in git history.
MODEL_VERSION = "3"


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
