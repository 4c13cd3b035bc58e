"""Triton python-backend model: the canonical ONNX sentiment model, run with ONNX Runtime.

Loaded by the Triton of PyPI's nvidia-pytriton, whose only backend is python. The stub process
runs the platform's virtualenv Python, so onnxruntime and numpy come from there.
Parameters (config.pbtxt): ``onnx_model_dir`` — the canonical ``model_repository/sentiment``
directory (``<dir>/<version>/model.onnx`` is loaded for the version Triton asks for);
``intra_op_num_threads``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
import triton_python_backend_utils as pb_utils  # type: ignore[import-not-found]


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        params = {k: v.get("string_value", "") for k, v in config.get("parameters", {}).items()}
        onnx_dir = Path(params["onnx_model_dir"])
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(params.get("intra_op_num_threads") or 2)
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # No busy-waiting between runs: on a small CPU the spinning threads starve Triton's own threads
        # and every other process on the host (the API server next to it).
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        path = onnx_dir / args["model_version"] / "model.onnx"
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.batch_invariant = self._probe_batch_invariance()

    def _run(self, input_ids: npt.NDArray[np.int64], mask: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        out: npt.NDArray[np.float32] = self.session.run(["logits"], {"input_ids": input_ids, "attention_mask": mask})[0]
        return out

    def _probe_batch_invariance(self) -> bool:
        # Same probe as insights.inference.repository.is_batch_invariant (this file stays standalone):
        # int8 quantize_dynamic graphs scale activations per tensor, so a row's logits depend on its
        # batch-mates and padding. Those models run one unpadded row at a time.
        short = np.array([[101, 7592, 2088, 102]], dtype=np.int64)
        long = np.array([[101, *([2307, 2326] * 12), 102]], dtype=np.int64)
        padded = np.zeros((2, long.shape[1]), dtype=np.int64)
        padded[0, : short.shape[1]] = short[0]
        padded[1] = long[0]
        alone = self._run(short, np.ones_like(short))[0]
        together = self._run(padded, (padded != 0).astype(np.int64))[0]
        return bool(np.abs(alone - together).max() < 1e-3)

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
