"""Installing by name: the wheels of every member install into fresh venvs, offline.

``tools/wheels.py`` (``python3 tools/dev.py wheels``) builds each distribution of ``packages/``
once per session; each venv below then installs one requirement with ``--no-index
--find-links`` (never the public index, where ``rt`` is another project) and checks exactly
which distributions arrived and which ``rt.*`` parts import. The namespace joins portions from
separate wheels through ``pkgutil.extend_path`` in rt-core's ``__init__``. The rt-core-only venv
also checks that every missing part explains itself, on every spelling of reaching it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
import venv
from pathlib import Path
from typing import Any

import pytest
import wheels

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ROOT / "packages"
META = tomllib.loads((PACKAGES / "rt" / "pyproject.toml").read_text())["project"]
EXTRAS: dict[str, list[str]] = META["optional-dependencies"]


def _dist_name(requirement: str) -> str:
    return re.split(r"[=<>!~\[; ]", requirement, maxsplit=1)[0]


def _parts(dist: str) -> set[str]:
    """The public ``rt.<part>`` packages a distribution ships (rt-core: ``lowlevel``)."""
    src = wheels.distributions()[dist] / "src" / "rt"
    if not src.is_dir():
        return set()
    return {
        p.stem
        for p in src.iterdir()
        if not p.name.startswith(("_", ".")) and (p.is_dir() or p.suffix == ".py")
    }


def _expected(requirement: str) -> set[str]:
    """The distributions ``requirement`` must install (``rt[a,b]``, ``rt-core``...)."""
    name = _dist_name(requirement)
    if name != "rt":
        return {name}
    extras = re.findall(r"\[(.*)\]", requirement)
    chosen = {e.strip() for e in extras[0].split(",")} if extras else set()
    found = {"rt", *map(_dist_name, META["dependencies"])}
    for extra in chosen:
        found |= {_dist_name(dep) for dep in EXTRAS[extra]}
    return found


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheels")
    built = wheels.build(out)
    assert {w.name.split("-")[0] for w in built} == {
        name.replace("-", "_") for name in wheels.distributions()
    }
    return out


def _venv_with(tmp: Path, wheelhouse: Path, requirement: str) -> Path:
    """A fresh venv (no pip of its own: this interpreter's pip installs into it)."""
    env = tmp / "venv"
    venv.EnvBuilder(with_pip=False).create(env)
    py = env / "bin" / "python"
    cmd = [sys.executable, "-m", "pip", "--python", str(py), "install", "--quiet"]
    cmd += ["--disable-pip-version-check", "--no-index", "--find-links", str(wheelhouse)]
    subprocess.run([*cmd, requirement], check=True)
    return py


# Run inside a venv: which distributions are installed, which parts import, and what each
# missing part says on every way of reaching it.
PROBE = """
import importlib, importlib.metadata, json, sys
import rt
from rt._missing import SUBPACKAGES
report = {
    "dists": sorted(d.metadata["Name"] for d in importlib.metadata.distributions()),
    "dir": dir(rt),
    "present": [], "errors": {},
}
def attempt(key, fn):
    try:
        fn()
    except ImportError as exc:
        report["errors"][key] = [type(exc).__name__, str(exc)]
for sub in sorted(SUBPACKAGES):
    try:
        importlib.import_module("rt." + sub)
        report["present"].append(sub)
    except ImportError as exc:
        report["errors"]["import rt." + sub] = [type(exc).__name__, str(exc)]
        sys.modules.pop("rt." + sub, None)
        attempt("rt." + sub, lambda: getattr(rt, sub))
attempt("from rt.sync import mpsc", lambda: exec("from rt.sync import mpsc"))
for lazy in ("sleep", "main", "select", "join", "try_join", "test"):
    attempt("rt." + lazy, lambda: getattr(rt, lazy))
async def main():
    return await rt.spawn_blocking(lambda: "ran")
report["ran"] = rt.run(main())
print(json.dumps(report))
"""


def _probe(py: Path) -> dict[str, Any]:
    out = subprocess.run([str(py), "-c", PROBE], capture_output=True, text=True, check=True)
    report: dict[str, Any] = json.loads(out.stdout)
    return report


@pytest.fixture(scope="session")
def core_only(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path) -> dict[str, Any]:
    return _probe(_venv_with(tmp_path_factory.mktemp("core"), wheelhouse, "rt-core"))


@pytest.fixture(scope="session")
def net_time(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path) -> dict[str, Any]:
    return _probe(_venv_with(tmp_path_factory.mktemp("net_time"), wheelhouse, "rt[net,time]"))


@pytest.fixture(scope="session")
def full(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path) -> dict[str, Any]:
    return _probe(_venv_with(tmp_path_factory.mktemp("full"), wheelhouse, "rt[full]"))


def test_the_full_extra_lists_every_other_extra_and_every_member() -> None:
    others = {dep for name, deps in EXTRAS.items() if name != "full" for dep in deps}
    assert set(EXTRAS["full"]) == others
    assert {_dist_name(dep) for dep in others} == set(wheels.distributions()) - {"rt", "rt-core"}


def test_each_extra_is_its_own_distribution_and_the_meta_needs_only_rt_core() -> None:
    for extra, deps in EXTRAS.items():
        if extra != "full":
            assert [_dist_name(d) for d in deps] == [f"rt-{extra}"], extra
    assert [_dist_name(d) for d in META["dependencies"]] == ["rt-core"]


@pytest.mark.parametrize(
    ("fixture", "requirement"),
    [("core_only", "rt-core"), ("net_time", "rt[net,time]"), ("full", "rt[full]")],
)
def test_installing_by_name_from_the_wheels_brings_exactly_those_parts(
    request: pytest.FixtureRequest, fixture: str, requirement: str
) -> None:
    report = request.getfixturevalue(fixture)
    expected = _expected(requirement)
    assert set(report["dists"]) & set(wheels.distributions()) == expected
    parts = set().union(*(_parts(d) for d in expected)) - set(_parts("rt-core"))
    assert set(report["present"]) == parts
    assert report["ran"] == "ran"


def test_the_full_extra_installs_every_distribution_it_lists(full: dict[str, Any]) -> None:
    assert set(full["dists"]) & set(wheels.distributions()) == {
        "rt",
        "rt-core",
        *map(_dist_name, EXTRAS["full"]),
    }


def test_with_only_rt_core_every_missing_part_names_its_extra_on_every_path(
    core_only: dict[str, Any],
) -> None:
    errors: dict[str, list[str]] = core_only["errors"]
    from rt._missing import SUBPACKAGES

    expected = {
        **{f"import rt.{sub}": extra for sub, extra in SUBPACKAGES.items()},
        **{f"rt.{sub}": extra for sub, extra in SUBPACKAGES.items()},
        "from rt.sync import mpsc": "sync",
        "rt.sleep": "time",
        **{f"rt.{name}": "macros" for name in ("main", "select", "join", "try_join", "test")},
    }
    assert set(errors) == set(expected)
    for key, extra in expected.items():
        kind, message = errors[key]
        assert kind == "ModuleNotFoundError", key
        assert f"rt-{extra} distribution, which is not installed" in message, key
        assert f"pip install --no-index --find-links WHEEL_DIR 'rt[{extra}]'" in message, key
    # The same message whichever way the part was reached.
    assert errors["import rt.net"] == errors["rt.net"]
    assert errors["import rt.sync"] == errors["from rt.sync import mpsc"]


def test_dir_of_rt_lists_public_names_and_only_the_lazy_ones_that_are_installed(
    core_only: dict[str, Any], net_time: dict[str, Any]
) -> None:
    import rt

    core_dir: list[str] = core_only["dir"]
    assert core_dir == sorted(set(core_dir))
    core_parts = {"lowlevel", "task"}  # rt-core's own public modules
    assert set(core_dir) == {*rt.__all__, *core_parts}
    net_time_dir: list[str] = net_time["dir"]
    assert set(net_time_dir) == {*rt.__all__, *core_parts, "net", "io", "time", "sleep"}
