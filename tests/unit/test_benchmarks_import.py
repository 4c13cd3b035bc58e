"""Every benchmark script still imports against the current code.

The scripts are run by hand, rarely, so a renamed helper breaks one silently (it happened: a fixture moved
and a benchmark stopped starting). Importing runs their module level (imports, path set-up, constants),
not their ``main``."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted(p for p in (ROOT / "benchmarks").rglob("*.py") if p.parent.name != "triton_gpu")
"""``benchmarks/inference/triton_gpu/model.py`` is a Triton python-backend model: it imports Triton's own
modules, which exist only inside the Triton server."""

TRAINING_EXTRA = {"torch", "transformers", "sentence_transformers"}
"""The training package's heavy dependencies (``make model`` installs them): a script that needs them is
skipped where they are absent, as in the server's own environment."""


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_benchmark_script_imports(script: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "training"))
    monkeypatch.setattr(sys, "path", list(sys.path))  # the scripts insert their own paths: undone after
    name = f"benchmark_{script.stem}"
    spec = importlib.util.spec_from_file_location(name, script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)  # dataclasses look their module up while it loads
    try:
        spec.loader.exec_module(module)
    except ModuleNotFoundError as exc:
        if exc.name not in TRAINING_EXTRA:
            raise
        pytest.skip(f"needs the training extra ({exc.name})")
    assert callable(getattr(module, "main", None)), "a benchmark script has a main()"
