"""Triton python-backend model: the canonical ONNX sentiment model, run with ONNX Runtime.

Loaded by the Triton of PyPI's nvidia-pytriton, whose only backend is python. The stub process
runs the platform's virtualenv Python, so onnxruntime and numpy come from there, and the session
options come from the checkout this file lives in (``insights.inference.session``, the one definition
the embedded backend and the training benchmarks use): the stub does not pass PYTHONPATH on, and the
virtualenv's own ``insights`` may be another checkout's.
Parameters (config.pbtxt): ``onnx_model_dir`` — the canonical ``model_repository/sentiment``
directory (``<dir>/<version>/model.onnx`` is loaded for the version Triton asks for);
``intra_op_num_threads``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import triton_python_backend_utils as pb_utils  # type: ignore[import-not-found]

# Triton loads this file through a symlink in its generated repository; the real one is in the checkout
# (server/insights/inference/triton_python/model.py), whose server/ folder holds the insights package.
_SERVER_DIR = str(Path(__file__).resolve().parents[3])
if _SERVER_DIR not in sys.path:
    sys.path.insert(0, _SERVER_DIR)

from insights.inference.repository import is_batch_invariant  # noqa: E402
from insights.inference.session import open_session  # noqa: E402


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        params = {k: v.get("string_value", "") for k, v in config.get("parameters", {}).items()}
        onnx_dir = Path(params["onnx_model_dir"])
        path = onnx_dir / args["model_version"] / "model.onnx"
        self.session = open_session(str(path), int(params.get("intra_op_num_threads") or 2))
        # int8 quantize_dynamic graphs scale activations per tensor, so a row's logits depend on its
        # batch-mates and padding: those models run one unpadded row at a time (see is_batch_invariant).
        self.batch_invariant = is_batch_invariant(self._run)

    def _run(self, input_ids: npt.NDArray[np.int64], mask: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        out: npt.NDArray[np.float32] = self.session.run(["logits"], {"input_ids": input_ids, "attention_mask": mask})[0]
        return out

    def execute(self, requests: list[Any]) -> list[Any]:
        try:
            ids = [pb_utils.get_input_tensor_by_name(r, "input_ids").as_numpy() for r in requests]
            masks = [pb_utils.get_input_tensor_by_name(r, "attention_mask").as_numpy() for r in requests]
            # Dynamic batching hands over several requests; run them as one batch, right-padded
            # to the widest (padding is masked out, so each row's result does not depend on it).
            width = max(a.shape[1] for a in ids)
            input_ids = np.concatenate([np.pad(a, ((0, 0), (0, width - a.shape[1]))) for a in ids]).astype(np.int64)
            mask = np.concatenate([np.pad(a, ((0, 0), (0, width - a.shape[1]))) for a in masks]).astype(np.int64)
            if self.batch_invariant:
                logits = self._run(input_ids, mask)
            else:
                rows = []
                for row_ids, row_mask in zip(input_ids, mask, strict=True):
                    n = max(1, int(row_mask.sum()))
                    rows.append(self._run(row_ids[None, :n], row_mask[None, :n]))
                logits = np.concatenate(rows)
        except Exception as exc:  # one failure answers every request of the batch with it
            error = pb_utils.TritonError(f"sentiment inference failed: {exc}")
            return [pb_utils.InferenceResponse(error=error) for _ in requests]
        responses = []
        start = 0
        for a in ids:
            chunk = logits[start : start + a.shape[0]].astype(np.float32)
            start += a.shape[0]
            responses.append(pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("logits", chunk)]))
        return responses

    def finalize(self) -> None:
        self.session = None
