"""Build rt-core compiled with mypyc, and run the test suite against that build.

    python tools/compiled.py build          # wheel in dist/compiled/, unpacked in .hatch/compiled
    python tools/compiled.py test [ARGS]    # build (if the sources changed), then pytest ARGS
    python tools/compiled.py path           # build if needed; print the unpacked directory

Run it with the workspace's default environment (``hatch run test-compiled`` does; so does
``python3 tools/dev.py test``). The compiled build is opt-in: ``packages/rt-core`` builds a
pure-Python wheel unless its mypyc build hook is enabled, which this script does through
``HATCH_BUILD_HOOK_ENABLE_MYPYC``. It builds from a copy of the package so that no extension
module ever lands in the source tree (the editable installs would pick it up).

The tests run with the unpacked wheel first on ``PYTHONPATH``: ``rt`` and ``rt._core`` come from
the compiled wheel, the other distributions from the workspace's editable installs, and
``RT_EXPECT_COMPILED=1`` makes the suite refuse to start if the pure sources were imported.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "packages" / "rt-core"
DIST = ROOT / "dist" / "compiled"
SITE = ROOT / ".hatch" / "compiled"
STAMP = SITE / ".source-hash"


def source_hash() -> str:
    """A digest of everything that goes into the compiled wheel, plus the interpreter."""
    digest = hashlib.sha256(sys.version.encode())
    for path in sorted(PACKAGE.rglob("*")):
        if path.is_file() and "tests" not in path.parts and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(PACKAGE)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def build(force: bool = False) -> Path:
    """Build the compiled wheel and unpack it into ``SITE``; reuse it if nothing changed."""
    wanted = source_hash()
    if not force and STAMP.exists() and STAMP.read_text() == wanted:
        return SITE
    print("compiled.py: compiling rt-core with mypyc ...", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "rt-core"
        shutil.copytree(
            PACKAGE, copy, ignore=shutil.ignore_patterns("tests", "__pycache__", "*.so", "build")
        )
        out = Path(tmp) / "dist"
        env = {**os.environ, "HATCH_BUILD_HOOK_ENABLE_MYPYC": "1"}
        cmd = [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out)]
        done = subprocess.run(
            [*cmd, str(copy)], env=env, cwd=tmp, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
            raise SystemExit("compiled.py: the mypyc build failed (output above)")
        wheels = list(out.glob("rt_core-*.whl"))
        if len(wheels) != 1 or wheels[0].name.endswith("-none-any.whl"):
            raise SystemExit(f"compiled.py: expected one platform wheel, got {wheels}")
        DIST.mkdir(parents=True, exist_ok=True)
        for old in DIST.glob("rt_core-*.whl"):
            old.unlink()
        wheel = Path(shutil.copy2(wheels[0], DIST))
    shutil.rmtree(SITE, ignore_errors=True)
    SITE.mkdir(parents=True)
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(SITE)
    STAMP.write_text(wanted)
    print(f"compiled.py: {wheel.relative_to(ROOT)} unpacked in {SITE.relative_to(ROOT)}")
    return SITE


def c_compiler() -> bool:
    """Whether the C compiler this Python builds extensions with is installed."""
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    return shutil.which(cc) is not None


def compiled_env(site: Path) -> dict[str, str]:
    """The environment of a process that must import the compiled rt-core."""
    paths = [str(site), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "RT_EXPECT_COMPILED": "1"}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("build", "test", "path"):
        print(__doc__)
        return 2
    command, extra = argv[0], argv[1:]
    if command == "build":
        build(force=True)
        return 0
    if command == "test" and not c_compiler():
        print(
            "compiled.py: no C compiler found: the compiled pass is skipped (the build needs one)"
        )
        return 0
    site = build()
    if command == "path":
        print(site)
        return 0
    pytest = [sys.executable, "-m", "pytest", "packages", "tests", "examples"]
    # The packaging test builds pure wheels of every member; it runs in the pure pass.
    pytest += ["--deselect", "tests/test_packaging.py", "-q", *extra]
    return subprocess.run(pytest, cwd=ROOT, env=compiled_env(site), check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
