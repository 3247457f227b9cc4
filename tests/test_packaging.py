"""Wheels of every member install into a fresh venv; extras pull in exactly their package.

Builds each distribution of ``packages/`` (the hatchling backend ``hatch build`` uses), then
installs the ``rt`` meta distribution with one extra into a new virtualenv with
``--no-index --find-links``, and checks which ``rt.*`` portions import: the namespace joins
portions from separate wheels through ``pkgutil.extend_path`` in rt-core's ``__init__``.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ROOT / "packages"


def _members() -> dict[str, Path]:
    out = {}
    for pyproject in sorted(PACKAGES.glob("*/pyproject.toml")):
        name = tomllib.loads(pyproject.read_text())["project"]["name"]
        out[name] = pyproject.parent
    return out


def _extras() -> dict[str, list[str]]:
    meta = tomllib.loads((PACKAGES / "rt" / "pyproject.toml").read_text())["project"]
    extras: dict[str, list[str]] = meta["optional-dependencies"]
    return extras


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheels")
    for path in _members().values():
        subprocess.run(
            [sys.executable, "-m", "build", "--wheel", "--no-isolation", "-o", str(out), str(path)],
            check=True,
            capture_output=True,
        )
    return out


def _venv_with(tmp: Path, wheelhouse: Path, requirement: str) -> Path:
    env = tmp / "venv"
    venv.EnvBuilder(with_pip=True).create(env)
    py = env / "bin" / "python"
    subprocess.run(
        [
            str(py),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-index",
            "--find-links",
            str(wheelhouse),
            requirement,
        ],
        check=True,
    )
    return py


def test_the_full_extra_lists_every_other_extra() -> None:
    extras = _extras()
    others = {dep for name, deps in extras.items() if name != "full" for dep in deps}
    assert set(extras["full"]) == others
    member_names = set(_members()) - {"rt", "rt-core"}
    assert {dep.split("=")[0].split(">")[0] for dep in others} == member_names


def test_meta_wheel_alone_installs_rt_core_and_lazy_names_say_which_extra(
    tmp_path: Path, wheelhouse: Path
) -> None:
    py = _venv_with(tmp_path, wheelhouse, "rt")
    extras = sorted(n for n in _extras() if n != "full")
    code = (
        "import importlib, rt\n"
        "async def main():\n"
        "    return await rt.spawn_blocking(lambda: 'ok')\n"
        "print(rt.run(main()))\n"
        f"for extra in {extras!r}:\n"
        "    try:\n"
        "        importlib.import_module('rt.' + extra)\n"
        "        print(extra, 'present')\n"
        "    except ImportError:\n"
        "        print(extra, 'absent')\n"
        "try:\n"
        "    rt.sleep\n"
        "except ImportError as e:\n"
        "    print('sleep:', e)\n"
    )
    out = subprocess.run([str(py), "-c", code], capture_output=True, text=True, check=True).stdout
    assert "ok" in out
    for extra in extras:
        assert f"{extra} absent" in out
    assert "pip install 'rt[time]'" in out


# Extras whose distribution depends on another one (rt-asyncio's timers are rt-time's wheel).
BRINGS = {"asyncio": {"time"}}


@pytest.mark.parametrize("extra", sorted(n for n in _extras() if n != "full"))
def test_each_extra_installs_exactly_its_distribution(
    tmp_path: Path, wheelhouse: Path, extra: str
) -> None:
    py = _venv_with(tmp_path, wheelhouse, f"rt[{extra}]")
    others = sorted(
        n for n in _extras() if n not in ("full", extra) and n not in BRINGS.get(extra, ())
    )
    code = (
        "import importlib\n"
        f"importlib.import_module('rt.{extra}')\n"
        f"for other in {others!r}:\n"
        "    try:\n"
        "        importlib.import_module('rt.' + other)\n"
        "        print('unexpected', other)\n"
        "    except ImportError:\n"
        "        pass\n"
        "print('ok')\n"
    )
    out = subprocess.run([str(py), "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "ok"
