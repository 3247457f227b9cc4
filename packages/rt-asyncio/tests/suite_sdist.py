"""Fetch an installed project's sdist (for the outside test suites run on rt's loop).

The wheels of anyio and uvloop ship no tests, so ``anyio_suite.py`` and ``uvloop_suite.py``
download the sdist of the installed version from the package registry (``pip download``) and
unpack it once in a cache directory.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path


def fetch_sdist(project: str, cache: Path, marker: str, only: str | None = None) -> Path:
    """Download and unpack the sdist of the installed ``project`` under ``cache``; its root.

    Args:
        project: The distribution's name (the sdist is ``{project}-{version}.tar.gz``).
        cache: Where unpacked sdists are kept between runs.
        marker: A path inside the sdist's root that an earlier unpack left (it is reused).
        only: Unpack only the members under this folder of the root (say ``"tests/"``).

    Raises:
        RuntimeError: ``pip download`` failed (its output is in the message).
    """
    version = importlib.metadata.version(project)
    root = cache / f"{project}-{version}"
    if (root / marker).exists():
        return root
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-binary",
                ":all:",
                "--no-deps",
                "--dest",
                tmp,
                f"{project}=={version}",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        archives = list(Path(tmp).glob(f"{project}-*.tar.gz"))
        if proc.returncode != 0 or not archives:
            raise RuntimeError(
                f"pip download of the {project} {version} sdist failed:\n{proc.stdout}{proc.stderr}"
            )
        with tarfile.open(archives[0]) as tar:
            members = None
            if only is not None:
                prefix = f"{project}-{version}/{only}"
                members = [m for m in tar.getmembers() if m.name.startswith(prefix)]
            if hasattr(tarfile, "data_filter"):  # 3.11.4+: refuse links and paths outside tmp
                tar.extractall(tmp, members=members, filter="data")
            else:  # pragma: no cover - an early 3.11 patch release
                tar.extractall(tmp, members=members)  # the sdist of the installed version
        os.replace(Path(tmp) / f"{project}-{version}", root)
    return root
