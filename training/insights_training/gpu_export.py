"""The GPU artefact: the published int8 graph, dequantized, re-fused by ONNX Runtime, in fp16.

``quantize_dynamic`` int8 (uint8 activations quantized per batch, ``MatMulInteger``) is a CPU
optimization; on a GPU the same weights run best as fp16 through ORT's fused transformer kernels.
There is no fp32 checkpoint in the repository, so the GPU graph is rebuilt from the int8 file alone:

1. :func:`dequantize`: every int8 operator becomes its float counterpart against the dequantized
   weight ((q - zero_point) * scale, per output channel where the file is per channel):
   ``DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul`` becomes ``MatMul``, ``QAttention``
   becomes ``Attention`` and ``QEmbedLayerNormalization`` becomes ``EmbedLayerNormalization``
   (the exported graph was fused before it was quantized). Nothing is quantized at run time any more,
   so a text's scores no longer depend on its batch-mates.
2. :func:`optimize`: ``onnxruntime.transformers.optimizer`` (BERT fusions: attention, LayerNorm,
   GELU), with the head count and width read off the graph.
3. :func:`to_fp16`: ``convert_float_to_float16(keep_io_types=True)``: int64 inputs and fp32 ``logits``
   as before, so Triton's config and the client stay the same.

Runs in seconds, without torch; the same input file gives the same bytes.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
from onnx import helper, numpy_helper

from insights_training.onnx_graph import Graph, attributes

log = logging.getLogger(__name__)

MS_DOMAIN = "com.microsoft"


@dataclass(frozen=True)
class GpuExport:
    source: Path
    output: Path
    replaced: dict[str, int]
    """Int8 operators replaced by their float counterparts, by type."""
    fusions: dict[str, int]
    """The optimizer's count of fused operators in the final graph, by type (non-zero only)."""
    new_fusions: dict[str, int]
    """What the optimizer fused itself: its count minus the fused operators already in the dequantized
    graph (the int8 file was quantized from an already fused graph, so this is usually empty)."""
    num_heads: int
    hidden_size: int
    sha256: str


def dequantize(model: Any) -> tuple[Any, dict[str, int]]:
    """An fp32 copy of a ``quantize_dynamic`` graph (see the module doc) and the count of operators
    replaced, by int8 type. Raises ValueError on an int8 pattern it does not know."""
    g = Graph.of(model.graph)
    weights: dict[str, npt.NDArray[np.float32]] = {}
    dropped: set[int] = set()  # ids of nodes whose work the float replacement does
    replaced: dict[str, int] = {}
    nodes: list[Any] = []

    def weight(quantized: str, scale: str, zero_point: str) -> str:
        name = quantized.removesuffix("_quantized")
        weights[name] = g.dequantized(quantized, scale, zero_point)
        return name

    for node in model.graph.node:
        if node.op_type == "MatMulInteger":
            # x -> DynamicQuantizeLinear -> MatMulInteger(int32) -> Cast(float) -> Mul(x_scale * w_scale)
            x_q, w_q, _, w_zp = (list(node.input) + [""] * 4)[:4]
            cast = g.only_consumer(node.output[0], "Cast")
            rescale = g.only_consumer(cast.output[0], "Mul")
            (scales,) = [g.producer.get(i) for i in rescale.input if i != cast.output[0]]
            w_scales = [i for i in scales.input if i in g.init] if scales is not None else []
            if w_q not in g.init or scales is None or scales.op_type != "Mul" or len(w_scales) != 1:
                raise ValueError(f"{node.name}: not a dynamic-quantized MatMul against a weight")
            w = weight(w_q, w_scales[0], w_zp)
            nodes.append(helper.make_node("MatMul", [g.float_input(x_q), w], [rescale.output[0]],
                                          name=node.name.removesuffix("_quant")))
            dropped.update({id(cast), id(rescale), id(scales)})
        elif node.op_type == "QAttention":
            x_q, w_q, bias, _, w_scale, mask_index, _, w_zp, past = (list(node.input) + [""] * 9)[:9]
            if past:
                raise ValueError(f"{node.name}: past state is not supported")
            w = weight(w_q, w_scale, w_zp)
            nodes.append(helper.make_node("Attention", [g.float_input(x_q), w, bias, mask_index], list(node.output),
                                          name=node.name.removesuffix("_quant"), domain=MS_DOMAIN, **attributes(node)))
        elif node.op_type == "QEmbedLayerNormalization":
            # ids, segments, 5 quantized tables (word, position, segment, gamma, beta), mask, 5 scales, 5 zero points
            i = list(node.input)
            tables = [weight(i[2 + k], i[8 + k], i[13 + k]) for k in range(5)]
            nodes.append(helper.make_node("EmbedLayerNormalization", [i[0], i[1], *tables, i[7]], list(node.output),
                                          name=node.name.removesuffix("_quant"), domain=MS_DOMAIN, **attributes(node)))
        elif node.op_type == "DynamicQuantizeLinear":
            dropped.add(id(node))
            continue
        else:
            nodes.append(node)
            continue
        replaced[node.op_type] = replaced.get(node.op_type, 0) + 1
    nodes = [n for n in nodes if id(n) not in dropped]
    leftover = {n.op_type for n in nodes} & {"MatMulInteger", "DynamicQuantizeLinear", "QAttention",
                                             "QEmbedLayerNormalization", "DequantizeLinear", "QuantizeLinear"}
    if leftover:
        raise ValueError(f"int8 operators left after dequantization: {sorted(leftover)}")

    used = {name for n in nodes for name in n.input}
    initializers = [i for i in model.graph.initializer if i.name in used and i.name not in weights]
    initializers += [numpy_helper.from_array(a, name) for name, a in sorted(weights.items())]
    graph = helper.make_graph(nodes, model.graph.name, list(model.graph.input), list(model.graph.output),
                              initializers)  # value_info dropped: it described the int8 tensors
    out = helper.make_model(graph, opset_imports=list(model.opset_import), producer_name="insights_training.gpu_export",
                            ir_version=model.ir_version)
    onnx.checker.check_model(out)
    return out, replaced


def attention_shape(model: Any) -> tuple[int, int]:
    """(heads, hidden width) read off an (int8 or fp32) fused graph: the attention nodes' ``num_heads``
    and the rows of their packed [hidden, 3 * hidden] Q|K|V weight."""
    attention = [n for n in model.graph.node if n.op_type in ("QAttention", "Attention")]
    dims = {i.name: list(i.dims) for i in model.graph.initializer}
    heads = {helper.get_attribute_value(a) for n in attention for a in n.attribute if a.name == "num_heads"}
    widths = {dims[n.input[1]][0] for n in attention if n.input[1] in dims}
    if len(heads) != 1 or len(widths) != 1:
        raise ValueError(f"cannot read the attention shape off the graph: heads {heads}, widths {widths}")
    return int(heads.pop()), widths.pop()


def optimize(model: Any, num_heads: int, hidden_size: int) -> tuple[Any, dict[str, int]]:
    """ORT's BERT fusions on an fp32 graph; the fused graph and the fused-operator counts (non-zero)."""
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    options = FusionOptions("bert")
    # Symbolic shape inference needs sympy (a torch dependency, absent without the training extras); the
    # graph's tensor types are all declared, which is what the fusions read, so the output is the same
    # with or without it and does not depend on what else is installed.
    options.enable_shape_inference = False
    # opt_level 0: the Python fusions only, no ORT graph optimizations (those would bake CPU-specific
    # layouts into a file meant for the CUDA provider; the serving session applies its own).
    work = onnx.ModelProto()
    work.CopyFrom(model)  # the optimizer edits the graph it is given in place
    optimized = optimize_model(work, model_type="bert", num_heads=num_heads, hidden_size=hidden_size,
                               optimization_options=options, opt_level=0, use_gpu=True)
    stats = {op: int(n) for op, n in optimized.get_fused_operator_statistics().items() if n}
    return optimized.model, stats


def to_fp16(model: Any) -> Any:
    """fp16 weights and activations, fp32 at the edges (keep_io_types: ``logits`` stays fp32)."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    return convert_float_to_float16(model, keep_io_types=True)


def export_gpu(source: Path, output: Path, fp32_dir: Path | None = None) -> GpuExport:
    """The fp16 GPU graph of the int8 ``source`` model, written to ``output``; with ``fp32_dir``, the two
    fp32 graphs before it too (``dequantized.onnx``, ``optimized.onnx``: what the checks compare)."""
    int8 = onnx.load(str(source))
    num_heads, hidden_size = attention_shape(int8)
    fp32, replaced = dequantize(int8)
    fused, fusions = optimize(fp32, num_heads, hidden_size)
    if fp32_dir is not None:
        fp32_dir.mkdir(parents=True, exist_ok=True)
        (fp32_dir / "dequantized.onnx").write_bytes(fp32.SerializeToString())
        (fp32_dir / "optimized.onnx").write_bytes(fused.SerializeToString())
    before = Counter(n.op_type for n in fp32.graph.node)
    new_fusions = {op: n - before[op] for op, n in fusions.items() if n > before[op]}
    fp16 = to_fp16(fused)
    output.parent.mkdir(parents=True, exist_ok=True)
    data = fp16.SerializeToString()
    output.write_bytes(data)
    result = GpuExport(source, output, replaced, fusions, new_fusions, num_heads, hidden_size,
                       hashlib.sha256(data).hexdigest()[:16])
    log.info("gpu export %s -> %s: replaced %s; fused operators %s (new: %s); %d heads x %d; sha256 %s", source,
             output, replaced, fusions, new_fusions or "none", num_heads, hidden_size, result.sha256)
    return result


def export_gpu_repository(model_dir: Path, gpu_dir: Path, versions: list[str] | None = None,
                          fp32_dir: Path | None = None) -> list[GpuExport]:
    """``gpu_dir/<version>/model.onnx`` for each version folder of ``model_dir`` (all by default, as
    Triton's ``version_policy: { all: {} }`` serves them side by side); the fp32 graphs under
    ``fp32_dir/<version>/`` if given."""
    found = sorted((p.name for p in model_dir.iterdir() if p.name.isdigit() and (p / "model.onnx").is_file()), key=int)
    chosen = found if versions is None else versions
    missing = sorted(set(chosen) - set(found))
    if missing or not chosen:
        raise ValueError(f"no <version>/model.onnx under {model_dir} for {missing or 'any version'}")
    return [export_gpu(model_dir / v / "model.onnx", gpu_dir / v / "model.onnx",
                       None if fp32_dir is None else fp32_dir / v) for v in chosen]
