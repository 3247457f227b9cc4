"""Build rt's documentation site: the guides in ``docs/guides/`` and one API page per distribution.

    python3 tools/dev.py docs             # into site/, warnings are errors (what CI runs)
    python tools/docs.py [--serve]        # the same, in the docs environment (hatch run docs:build)

The API pages are generated, not written: every distribution under ``packages/`` (new ones
included, with no edit here) gets a page rendering its public modules (the packages under its
``src/rt/`` and their public submodules) from the docstrings, with mkdocstrings reading the
sources statically, so building needs none of rt's distributions installed. The pages and a
``mkdocs.yml`` are staged in ``build/docs/`` and MkDocs builds them with ``--strict``: a broken
link or a docstring that does not parse fails the build.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ROOT / "packages"
GUIDES = ROOT / "docs" / "guides"
STAGE = ROOT / "build" / "docs"
SITE = ROOT / "site"

# The guides in reading order (file stem -> title); any other guide follows, by name.
GUIDE_ORDER = {
    "cancellation": "Cancellation",
    "cancel-safety": "Cancel safety",
    "multi-thread": "The multi-thread scheduler",
    "paused-time": "Paused time in tests",
    "diagnostics": "Seeing inside a running program",
    "from-asyncio": "Migrating from asyncio",
    "from-tokio": "Coming from Tokio",
}


def _public_modules(src: Path) -> list[str]:
    """The public modules a distribution ships: ``rt/<pkg>/`` and its public submodules."""
    rt_dir = src / "rt"
    found: list[str] = []
    if (rt_dir / "__init__.py").exists():  # rt-core: the top level and its public modules
        found.append("rt")
        found += [f"rt.{p.stem}" for p in sorted(rt_dir.glob("[!_]*.py"))]
    for pkg in sorted(p for p in rt_dir.iterdir() if p.is_dir() and not p.name.startswith("_")):
        if not (pkg / "__init__.py").exists():
            continue
        found.append(f"rt.{pkg.name}")
        found += [f"rt.{pkg.name}.{p.stem}" for p in sorted(pkg.glob("[!_]*.py"))]
    return found


def distributions() -> list[tuple[str, str, list[str]]]:
    """Every distribution with code: (name, description, public modules)."""
    out = []
    for pyproject in sorted(PACKAGES.glob("*/pyproject.toml")):
        project = tomllib.loads(pyproject.read_text())["project"]
        src = pyproject.parent / "src"
        if src.is_dir():
            out.append((project["name"], project.get("description", ""), _public_modules(src)))
    # rt-core first: the others build on it.
    return sorted(out, key=lambda d: (d[0] != "rt-core", d[0]))


def _api_page(name: str, description: str, modules: list[str]) -> str:
    lines = [f"# {name}", "", description, ""]
    for module in modules:
        lines += [f"## `{module}`", "", f"::: {module}", ""]
    return "\n".join(lines)


def _guides() -> list[tuple[str, str]]:
    stems = [p.stem for p in sorted(GUIDES.glob("*.md"))]
    ordered = [s for s in GUIDE_ORDER if s in stems] + [s for s in stems if s not in GUIDE_ORDER]
    return [(s, GUIDE_ORDER.get(s, s.replace("-", " ").capitalize())) for s in ordered]


def stage() -> Path:
    """Write the pages and ``mkdocs.yml`` into ``build/docs/``; return the config's path."""
    if STAGE.exists():
        shutil.rmtree(STAGE)
    pages = STAGE / "pages"
    (pages / "api").mkdir(parents=True)
    (pages / "guides").mkdir()
    shutil.copy(ROOT / "docs" / "index.md", pages / "index.md")
    guides = _guides()
    for stem, _ in guides:
        shutil.copy(GUIDES / f"{stem}.md", pages / "guides" / f"{stem}.md")
    for image in sorted([*GUIDES.glob("*.svg"), *GUIDES.glob("*.png")]):  # what the guides show
        shutil.copy(image, pages / "guides" / image.name)
    dists = distributions()
    for name, description, modules in dists:
        (pages / "api" / f"{name}.md").write_text(_api_page(name, description, modules))
    # The distributions' portions of ``rt`` joined into one tree (symlinks), as an install joins
    # them: the docs tool reads one package per name.
    merged = STAGE / "src" / "rt"
    merged.mkdir(parents=True)
    for portion in sorted(PACKAGES.glob("*/src/rt")):
        for entry in portion.iterdir():
            if entry.name != "__pycache__" and not (merged / entry.name).exists():
                (merged / entry.name).symlink_to(entry.resolve())
    src_paths = [str(STAGE / "src")]
    config = {
        "site_name": "rt",
        "site_description": "Tokio's model of asynchronous programming, for Python",
        "docs_dir": "pages",
        "site_dir": str(SITE),
        "theme": {"name": "readthedocs"},
        "strict": True,
        "validation": {"links": {"unrecognized_links": "warn", "anchors": "warn"}},
        "nav": [
            {"Home": "index.md"},
            {"Guides": [{title: f"guides/{stem}.md"} for stem, title in guides]},
            {"API reference": [{name: f"api/{name}.md"} for name, _, _ in dists]},
        ],
        "plugins": [
            "search",
            {
                "mkdocstrings": {
                    "default_handler": "python",
                    "handlers": {
                        "python": {
                            "paths": src_paths,
                            "options": {
                                "docstring_style": "google",
                                "show_source": False,
                                "show_root_heading": False,
                                "show_root_toc_entry": False,
                                "members_order": "source",
                                "filters": ["!^_[^_]", "!^__(?!init__)"],
                                "show_signature_annotations": True,
                                "separate_signature": True,
                                "merge_init_into_class": True,
                                "show_if_no_docstring": False,
                                "heading_level": 3,
                            },
                        }
                    },
                }
            },
        ],
    }
    path = STAGE / "mkdocs.yml"
    # JSON is YAML: no YAML writer needed.
    path.write_text(json.dumps(config, indent=2))
    return path


def main(argv: list[str]) -> int:
    config = stage()
    names = ", ".join(name for name, _, _ in distributions())
    print(f"docs: API pages for {names}; guides: {len(_guides())}", flush=True)
    if argv == ["--serve"]:
        return subprocess.run(
            [sys.executable, "-m", "mkdocs", "serve", "-f", str(config)]
        ).returncode
    cmd = [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config)]
    rc = subprocess.run(cmd).returncode
    if rc == 0:
        print(f"docs: built {SITE.relative_to(ROOT)}/index.html")
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
