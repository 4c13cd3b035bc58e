"""A real Triton on this machine: tritonserver 2.51 from PyPI ``nvidia-pytriton`` (python backend only).

Lays out what that Triton needs under a work directory and runs it:
- ``backends/python/``: ``libtriton_python.so`` and ``triton_python_backend_utils.py`` from the wheel
  plus the stub for this Python (``python_backend_stubs/3.11``), passed as ``--backend-directory``;
- ``models/sentiment/``: the python-backend model of ``triton_python/`` with its ``onnx_model_dir``
  pointing at the canonical ``model_repository/sentiment`` (one version folder per canonical version,
  each a symlink to model.py: the weights are read in place, never copied);
- ``LD_LIBRARY_PATH`` = this Python's ``lib/`` + ``nvidia_pytriton.libs``, this venv's ``bin`` first
  on ``PATH`` (the stub finds its site-packages through ``python3``), else the stub mixes libpython
  versions and dies.
Used by the tests, by ``insights triton`` and by ``insights up --triton``.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path

from insights.inference.repository import ModelFiles
from insights.inference.types import MODEL_NAME

TEMPLATE_DIR = Path(__file__).resolve().parents[1] / "inference" / "triton_python"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pytriton_dir() -> Path:
    spec = importlib.util.find_spec("pytriton")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("nvidia-pytriton is not installed (pip install '.[local]')")
    return Path(next(iter(spec.submodule_search_locations)))


class TritonStartError(RuntimeError):
    pass


@dataclass
class LocalTriton:
    model_repository: Path
    """The canonical repository (holds ``sentiment/<version>/model.onnx`` and the tokenizer)."""
    workdir: Path
    grpc_port: int = field(default_factory=_free_port)
    http_port: int = field(default_factory=_free_port)
    metrics_port: int = field(default_factory=_free_port)
    threads: int = 2
    model_name: str = MODEL_NAME
    template_dir: Path = TEMPLATE_DIR
    """Where ``config.pbtxt`` and ``model.py`` come from (the GPU benchmark brings its own)."""
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """What ``TRITON_URL`` should say: host:port of the gRPC endpoint."""
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "triton.log"

    def prepare(self) -> Path:
        """Write the backend directory and the runnable model repository; returns the latter."""
        triton = pytriton_dir() / "tritonserver"
        backend = self.workdir / "backends" / "python"
        backend.mkdir(parents=True, exist_ok=True)
        stub = triton / "python_backend_stubs" / f"{sys.version_info.major}.{sys.version_info.minor}"
        for source in (triton / "backends" / "python" / "libtriton_python.so",
                       triton / "backends" / "python" / "triton_python_backend_utils.py",
                       stub / "triton_python_backend_stub"):
            shutil.copy2(source, backend / source.name)

        files = ModelFiles.in_repository(self.model_repository.resolve(), self.model_name)
        versions = files.versions()
        if not versions:
            raise TritonStartError(f"no <version>/model.onnx under {files.directory}")
        models = self.workdir / "models"
        model_dir = models / self.model_name
        if model_dir.exists():
            shutil.rmtree(model_dir)
        model_dir.mkdir(parents=True)
        config = (self.template_dir / "config.pbtxt").read_text()
        config = config.replace('name: "sentiment"', f'name: "{self.model_name}"')
        config = config.replace('string_value: "2"', f'string_value: "{self.threads}"')
        config += (
            "parameters: {\n"
            '  key: "onnx_model_dir"\n'
            f'  value: {{ string_value: "{files.directory}" }}\n'
            "}\n"
        )
        (model_dir / "config.pbtxt").write_text(config)
        for version in versions:
            (model_dir / version).mkdir()
            (model_dir / version / "model.py").symlink_to(self.template_dir.resolve() / "model.py")
        return models

    def command(self, models: Path) -> list[str]:
        return [
            str(pytriton_dir() / "tritonserver" / "bin" / "tritonserver"),
            f"--model-repository={models}",
            f"--backend-directory={self.workdir / 'backends'}",
            f"--grpc-port={self.grpc_port}",
            f"--http-port={self.http_port}",
            f"--metrics-port={self.metrics_port}",
            "--exit-on-error=true",
            "--strict-readiness=true",
            "--exit-timeout-secs=5",
            "--log-verbose=0",
        ]

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        libs = [str(sysconfig.get_config_var("LIBDIR")), str(pytriton_dir().parent / "nvidia_pytriton.libs")]
        if env.get("LD_LIBRARY_PATH"):
            libs.append(env["LD_LIBRARY_PATH"])
        env["LD_LIBRARY_PATH"] = ":".join(libs)
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        return env

    def start(self) -> LocalTriton:
        if self.process is not None and self.process.poll() is None:
            return self
        models = self.prepare()
        with self.log_path.open("ab") as log:
            # Own session: a Ctrl-C meant for `make up` reaches Triton through stop(), in order.
            self.process = subprocess.Popen(
                self.command(models), env=self.environment(), stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def is_ready(self) -> bool:
        import tritonclient.grpc as grpcclient
        from tritonclient.utils import InferenceServerException

        try:
            with grpcclient.InferenceServerClient(self.url) as client:
                return bool(client.is_server_ready(client_timeout=1.0)
                            and client.is_model_ready(self.model_name, client_timeout=1.0))
        except InferenceServerException:
            return False

    def wait_ready(self, timeout_s: float = 90) -> LocalTriton:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise TritonStartError(f"tritonserver exited; see {self.log_path}:\n{self.log_tail()}")
            if self.is_ready():
                return self
            time.sleep(0.2)
        raise TritonStartError(f"tritonserver not ready after {timeout_s}s; see {self.log_path}:\n{self.log_tail()}")

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def stop(self, timeout_s: float = 15) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_foreground(triton: LocalTriton) -> int:
    """``insights triton``: start, report readiness, stop on SIGTERM/SIGINT."""
    stopping = False

    def request_stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    triton.start()
    try:
        triton.wait_ready()
        print(f"triton ready: TRITON_URL={triton.url} (log: {triton.log_path})", flush=True)
        while not stopping and triton.process is not None and triton.process.poll() is None:
            time.sleep(0.5)
    finally:
        code = triton.process.poll() if triton.process is not None else 0
        triton.stop()
    return 0 if stopping else (code or 1)
