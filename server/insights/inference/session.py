"""ONNX Runtime session options: the one definition every runner of the model uses.

The embedded backend, the local Triton's python model (``triton_python/model.py``) and the training
package's evaluation and speed benchmark all build their sessions from :func:`session_options`, so the
model card's speed numbers measure what the server runs. This module imports nothing but ONNX
Runtime, so that the Triton python backend's stub can import it.
"""

from __future__ import annotations

import onnxruntime as ort

#: Session config entries (``add_session_config_entry``) set on every session.
CONFIG_ENTRIES: dict[str, str] = {
    # No busy-waiting between runs: spinning pool threads would take the cores from the gRPC threads
    # and the event loop of the process (or Triton's own threads and the API server next to it) that
    # handle the very requests being scored.
    "session.intra_op.allow_spinning": "0",
}


def session_options(threads: int = 2) -> ort.SessionOptions:
    """``threads`` intra-op threads (one per core on the 2-core machines this runs on), one inter-op
    thread, sequential execution, every graph optimization, no spinning."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    for key, value in CONFIG_ENTRIES.items():
        opts.add_session_config_entry(key, value)
    return opts


def describe(opts: ort.SessionOptions) -> dict[str, object]:
    """The options that matter here, as plain values (tests compare sessions by it; logs print it)."""
    return {
        "intra_op_num_threads": opts.intra_op_num_threads,
        "inter_op_num_threads": opts.inter_op_num_threads,
        "execution_mode": str(opts.execution_mode),
        "graph_optimization_level": str(opts.graph_optimization_level),
        **{key: opts.get_session_config_entry(key) for key in CONFIG_ENTRIES},
    }


def open_session(path: str, threads: int = 2) -> ort.InferenceSession:
    """A CPU session of the model file at ``path`` with :func:`session_options`."""
    return ort.InferenceSession(path, session_options(threads), providers=["CPUExecutionProvider"])
