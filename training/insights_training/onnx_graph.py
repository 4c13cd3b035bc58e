"""Reading a published int8 graph for the rewrites that derive other artefacts from it (the fp16 GPU
export, the per-token and LayerNorm rewrites): its nodes by the tensors they produce and read, its
initializers by name, and its int8 weights dequantized."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from onnx import helper, numpy_helper


@dataclass(frozen=True)
class Graph:
    producer: dict[str, Any]
    consumers: dict[str, list[Any]]
    init: dict[str, Any]
    """Initializers (TensorProto) by name."""

    @classmethod
    def of(cls, graph: Any) -> Graph:
        producer: dict[str, Any] = {}
        consumers: dict[str, list[Any]] = {}
        for node in graph.node:
            for name in node.output:
                producer[name] = node
            for name in node.input:
                consumers.setdefault(name, []).append(node)
        return cls(producer, consumers, {i.name: i for i in graph.initializer})

    def array(self, name: str) -> npt.NDArray[Any]:
        return np.asarray(numpy_helper.to_array(self.init[name]))

    def only_consumer(self, name: str, op_type: str) -> Any:
        found = self.consumers.get(name, [])
        if len(found) != 1 or found[0].op_type != op_type:
            raise ValueError(f"{name}: expected one {op_type} consumer, found {[n.op_type for n in found]}")
        return found[0]

    def float_input(self, quantized: str) -> str:
        """The float tensor a ``DynamicQuantizeLinear`` quantized into ``quantized``."""
        node = self.producer.get(quantized)
        if node is None or node.op_type != "DynamicQuantizeLinear":
            raise ValueError(f"{quantized} does not come from a DynamicQuantizeLinear")
        return str(node.input[0])

    def dequantized(self, quantized: str, scale: str, zero_point: str,
                    dtype: type[np.floating[Any]] = np.float32) -> npt.NDArray[Any]:
        """``(q - zero_point) * scale`` of an int8 weight, in ``dtype`` (per-channel scales and zero points
        run along the last axis of a [in, out] weight)."""
        q = self.array(quantized).astype(dtype)
        zp = self.array(zero_point).astype(dtype) if zero_point else dtype(0)
        out: npt.NDArray[Any] = ((q - zp) * self.array(scale).astype(dtype)).astype(dtype)
        return out


def attributes(node: Any) -> dict[str, Any]:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}
