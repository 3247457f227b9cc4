"""Build the wheel of every distribution under ``packages/`` into one directory.

    python3 tools/dev.py wheels          # into dist/
    python tools/wheels.py [OUT_DIR]     # the same, with an interpreter that has pip and hatchling

The distributions are found by listing ``packages/*/pyproject.toml``, so a new one is built
without editing this file. Install from the result with ``--no-index`` so pip never looks at the
public package index, where the name ``rt`` belongs to an unrelated project::

    pip install --no-index --find-links dist/ 'rt[net,time]'
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ROOT / "packages"


def distributions() -> dict[str, Path]:
    """Return every distribution of the workspace: its name and its directory."""
    found: dict[str, Path] = {}
    for pyproject in sorted(PACKAGES.glob("*/pyproject.toml")):
        name = tomllib.loads(pyproject.read_text())["project"]["name"]
        found[name] = pyproject.parent
    return found


def _name(requirement: str) -> str:
    return re.split(r"[=<>!~\[; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def external_requirements() -> list[str]:
    """What the distributions need from outside the workspace (rt-console's terminal UI...)."""
    ours = set(distributions())
    found: set[str] = set()
    for path in distributions().values():
        project = tomllib.loads((path / "pyproject.toml").read_text())["project"]
        found |= {req for req in project.get("dependencies", []) if _name(req) not in ours}
    return sorted(found)


def build(out: Path, *, python: str = sys.executable, quiet: bool = True) -> list[Path]:
    """Build every distribution's wheel into ``out`` with ``python``; return rt's wheels.

    One ``pip wheel`` call builds them all, offline and without build isolation: the build
    backend (hatchling) must be installed in ``python``'s environment already. Third-party
    dependencies of a distribution, if any, are downloaded beside them (by name, from the
    package index), so that ``pip install --no-index --find-links OUT`` has everything.
    """
    out.mkdir(parents=True, exist_ok=True)
    dirs = [str(path) for path in distributions().values()]
    cmd = [python, "-m", "pip", "wheel", "--no-deps", "--no-index", "--no-build-isolation"]
    cmd += ["--disable-pip-version-check", "--wheel-dir", str(out), *dirs]
    if quiet:
        cmd.append("--quiet")
    subprocess.run(cmd, check=True)
    external = external_requirements()
    if external:
        fetch = [python, "-m", "pip", "download", "--disable-pip-version-check", "--dest"]
        subprocess.run([*fetch, str(out), *(["--quiet"] if quiet else []), *external], check=True)
    names = {name.replace("-", "_") for name in distributions()}
    return sorted(p for p in out.glob("*.whl") if p.name.split("-")[0] in names)


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else ROOT / "dist"
    wheels = build(out)
    shown = out.relative_to(Path.cwd()) if out.is_relative_to(Path.cwd()) else out
    for wheel in wheels:
        print(f"  {shown / wheel.name}")
    print(
        f"{len(wheels)} wheels in {shown}/. Install from them only (the name 'rt' on the public "
        "index belongs to another project):\n"
        f"  pip install --no-index --find-links {shown}/ 'rt[net,time]'"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
