"""Every runner of the model builds its ONNX Runtime session from insights.inference.session."""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import pytest

from insights.inference import embedded, session

ROOT = Path(__file__).resolve().parents[2]


def test_options_are_the_documented_ones() -> None:
    assert session.describe(session.session_options(3)) == {
        "intra_op_num_threads": 3,
        "inter_op_num_threads": 1,
        "execution_mode": "ExecutionMode.ORT_SEQUENTIAL",
        "graph_optimization_level": "GraphOptimizationLevel.ORT_ENABLE_ALL",
        "session.intra_op.allow_spinning": "0",
    }


def test_embedded_backend_uses_the_shared_session() -> None:
    assert embedded.open_session is session.open_session


def test_triton_python_model_uses_the_shared_session(monkeypatch: pytest.MonkeyPatch) -> None:
    # The model runs inside Triton's python backend stub, which provides this module.
    monkeypatch.setitem(sys.modules, "triton_python_backend_utils", types.ModuleType("triton_python_backend_utils"))
    path = ROOT / "server" / "insights" / "inference" / "triton_python" / "model.py"
    spec = importlib.util.spec_from_file_location("triton_sentiment_model", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.open_session is session.open_session


def test_training_benchmarks_use_the_shared_session(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "training"))
    ort_model = importlib.import_module("insights_training.ort_model")
    assert ort_model.open_session is session.open_session
