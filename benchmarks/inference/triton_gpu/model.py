"""Triton python-backend model for the GPU benchmark: the published int8 artefact's weights, in fp16.

An int8 graph with per-batch activation scales is a CPU optimization; a GPU runs the dequantized
weights in fp16 instead (insights_training.int8_weights), batched, padding masked out. The stub
imports ``insights`` from this checkout (it does not pass PYTHONPATH on). On a KIND_CPU instance (the
benchmark's CPU side, or a dry run without a GPU) it runs fp32 on the CPU.
Tensors cross the stub by DLPack, not numpy: this Triton's (2.51) numpy path answers empty outputs
under numpy 2, which GPU images ship.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
import triton_python_backend_utils as pb_utils  # type: ignore[import-not-found]
from torch.utils.dlpack import to_dlpack

# Triton loads this file through a symlink in its generated repository; the real one is in the checkout.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "server"))

from insights_training.int8_weights import classifier_from_int8_onnx


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        onnx_dir = Path(config["parameters"]["onnx_model_dir"]["string_value"])
        model = classifier_from_int8_onnx(onnx_dir / args["model_version"] / "model.onnx")
        if args.get("model_instance_kind") == "GPU" and torch.cuda.is_available():
            self.device = torch.device(f"cuda:{int(args['model_instance_device_id'])}")
            model = model.half()
        else:
            self.device = torch.device("cpu")
        self.model = model.to(self.device)

    @torch.inference_mode()
    def execute(self, requests: list[Any]) -> list[Any]:
        try:
            ids = [torch.from_dlpack(pb_utils.get_input_tensor_by_name(r, "input_ids")) for r in requests]
            masks = [torch.from_dlpack(pb_utils.get_input_tensor_by_name(r, "attention_mask")) for r in requests]
            width = max(a.shape[1] for a in ids)
            input_ids = torch.cat([F.pad(a, (0, width - a.shape[1])) for a in ids]).to(self.device)
            mask = torch.cat([F.pad(a, (0, width - a.shape[1])) for a in masks]).to(self.device)
            logits = self.model(input_ids, mask).float().cpu()
        except Exception as exc:  # one failure answers every request of the batch with it
            error = pb_utils.TritonError(f"sentiment inference failed: {exc}")
            return [pb_utils.InferenceResponse(error=error) for _ in requests]
        chunks = logits.split([a.shape[0] for a in ids])  # one chunk of rows per request, in order
        return [pb_utils.InferenceResponse(
                    output_tensors=[pb_utils.Tensor.from_dlpack("logits", to_dlpack(chunk.contiguous()))])
                for chunk in chunks]
