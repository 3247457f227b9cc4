#!/usr/bin/env python3
"""Set up the development tools and run a project task, on a machine that only has python3.

    python3 tools/dev.py demo      # the demo (README's first command); sets up .venv-demo
                                   # with only the rt distributions it uses
    python3 tools/dev.py test --quick  # one pass: default python, current-thread flavor only
    python3 tools/dev.py test      # the test suite (README's second command; every rt test
                                   # on both scheduler flavors), then the same suite on
                                   # Python 3.12 and 3.13 where they are installed, then
                                   # against the optional mypyc build of rt-core
    python3 tools/dev.py check     # tests + mypy --strict + ruff + docs (what .ci/run runs)
    python3 tools/dev.py bench     # every benchmark suite (python -m tools.bench all: rt vs
                                   # asyncio, uvloop, rloop, trio, the floor and the compiled
                                   # build); --quick for small sizes; see tools/bench/README.md
    python3 tools/dev.py compiled  # compile every rt distribution with mypyc (.hatch/compiled)
    python3 tools/dev.py docs      # build the API reference and guides into site/ (strict)
    python3 tools/dev.py api       # regenerate tests/public_api.txt (review the diff)
    python3 tools/dev.py console-shot  # regenerate docs/guides/console.svg: the live console on
                                   # mini-redis under redis-benchmark, driven in tmux
    python3 tools/dev.py wheels    # build every distribution's wheel into dist/ (see README,
                                   # "Install": pip install --no-index --find-links dist/ ...)

It creates ``.venv-tools`` (a virtualenv holding hatch) on first use; hatch then builds the
workspace environments declared in ``hatch.toml`` under ``.hatch/``, with every package of
``packages/`` installed editable. Extra arguments are passed on to the task.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / ".venv-tools"
HATCH_REQ = "hatch>=1.16,<2"

OTHER_PYTHONS = ("3.12", "3.13")

TASKS: dict[str, list[list[str]]] = {
    "demo": [],  # run_demo: its own small venv, no hatch
    "test": [["run", "test"], ["run", "test-compiled"]],
    "types": [["run", "types"]],
    "lint": [["run", "lint"]],
    "check": [
        ["run", "test"],
        ["run", "test-compiled"],
        ["run", "types"],
        ["run", "lint"],
        ["run", "docs:build"],
    ],
    "compiled": [["run", "python", "tools/compiled.py", "build"]],
    # The API reference site (MkDocs, warnings are errors) into site/.
    "docs": [["run", "docs:build"]],
    # Regenerates tests/public_api.txt, the reviewed golden file of the public API.
    "api": [["run", "python", "tools/public_api.py", "--write"]],
    # The console screenshot in docs/guides/diagnostics.md (tools/console_shot.py).
    "console-shot": [["run", "python", "tools/console_shot.py"]],
    # Runs in .venv-tools itself (pip and hatchling are there): no workspace env needed.
    "wheels": [],
    # The compiled build first (if the sources changed), so the benchmark's rt-mypyc column
    # measures current sources.
    "bench": [["run", "python", "tools/compiled.py", "path"], ["run", "bench:all"]],
}


def _bin(name: str) -> Path:
    sub = "Scripts" if os.name == "nt" else "bin"
    return TOOLS / sub / (name + (".exe" if os.name == "nt" else ""))


def ensure_hatch() -> Path:
    hatch = _bin("hatch")
    if hatch.exists():
        return hatch
    print(f"dev.py: creating {TOOLS.name} with {HATCH_REQ} ...", flush=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(TOOLS)
    subprocess.run(
        [
            str(_bin("python")),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            HATCH_REQ,
        ],
        check=True,
    )
    return hatch


def with_pyenv_versions(env: dict[str, str]) -> dict[str, str]:
    """Where pyenv manages the interpreters, make every installed 3.1x reachable by name.

    The current selection stays first (so ``python3`` does not change); the others are
    appended to ``PYENV_VERSION``, which pyenv reads as a ``:``-separated list.
    """
    if not shutil.which("pyenv"):
        return env
    out = subprocess.run(
        ["pyenv", "versions", "--bare"], capture_output=True, text=True, check=False
    ).stdout.split()
    picks = [v for v in out if re.fullmatch(r"3\.1[1-9](\.\d+)?", v)]
    current = [v for v in env.get("PYENV_VERSION", "").split(":") if v]
    if not current:
        global_version = subprocess.run(
            ["pyenv", "version-name"], capture_output=True, text=True, check=False
        ).stdout.strip()
        current = [v for v in global_version.split(":") if v]
    merged = current + [v for v in picks if v not in current]
    if merged:
        env = {**env, "PYENV_VERSION": ":".join(merged)}
    return env


def python_available(version: str, env: dict[str, str]) -> bool:
    exe = shutil.which(f"python{version}", path=env.get("PATH"))
    if exe is None:
        return False
    probe = subprocess.run([exe, "--version"], capture_output=True, env=env, check=False)
    return probe.returncode == 0


REDIS_TOOLS = ("redis-cli", "redis-benchmark")


def apt_install(packages: list[str], what: str) -> None:
    """Install Debian packages with apt-get; say why not where that is not possible (the
    callers look for the tools afterwards either way)."""
    if not shutil.which("apt-get") or not hasattr(os, "geteuid") or os.geteuid() != 0:
        print(f"dev.py: {what} missing and apt-get (as root) unavailable", flush=True)
        return
    print(f"dev.py: installing {' '.join(packages)} with apt-get ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    quiet = {"stdout": subprocess.DEVNULL, "env": env, "check": False}
    subprocess.run(["apt-get", "update", "-qq"], **quiet)  # type: ignore[call-overload]
    cmd = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages]
    subprocess.run(cmd, **quiet)  # type: ignore[call-overload]


def ensure_redis_tools() -> None:
    """Install Debian's redis-tools (redis-cli, redis-benchmark) and redis-server if missing.

    mini-redis is tested against these real clients, and benchmarked against the real server.
    Installing needs root and apt-get; elsewhere the tests that need them are skipped and say so.
    Debian starts the packaged server as a service where it can; the benchmark runs its own.
    """
    if all(shutil.which(t) for t in (*REDIS_TOOLS, "redis-server")):
        return
    apt_install(["redis-tools", "redis-server"], "redis-tools")
    if not all(shutil.which(t) for t in REDIS_TOOLS):
        print("dev.py: no redis-cli / redis-benchmark: the tests that use them are skipped")


def ensure_tls_tools() -> None:
    """rt.net.tls is tested against OpenSSL's s_server / s_client and curl."""
    if shutil.which("openssl") and shutil.which("curl"):
        return
    apt_install(["openssl", "curl"], "openssl / curl")
    if not (shutil.which("openssl") and shutil.which("curl")):
        print("dev.py: no openssl / curl: the TLS tests that use them are skipped")


def ensure_valgrind() -> None:
    """The mini-redis benchmark counts the servers' instructions with valgrind's callgrind."""
    if shutil.which("valgrind") and shutil.which("callgrind_control"):
        return
    apt_install(["valgrind"], "valgrind")
    if not shutil.which("valgrind"):
        print("dev.py: no valgrind: the mini-redis benchmark leaves out instruction counts")


def ensure_tmux() -> None:
    """The console screenshot (tools/console_shot.py, also run by its test) drives the live
    console in a detached tmux session."""
    if shutil.which("tmux"):
        return
    apt_install(["tmux"], "tmux")
    if not shutil.which("tmux"):
        print("dev.py: no tmux: the console screenshot cannot be taken and its test is skipped")


DEMO_ENV = ROOT / ".venv-demo"
# mini-redis uses every runtime distribution (rt.net, rt.sync, rt.time, rt.select) and none of
# the development tools.
DEMO_NEEDS = ("rt-core", "rt-time", "rt-sync", "rt-net", "rt-macros")


def run_demo(extra: list[str]) -> int:
    """Set up ``.venv-demo`` with only what the demo imports (once), then run the demo."""
    sub = "Scripts" if os.name == "nt" else "bin"
    python = DEMO_ENV / sub / ("python.exe" if os.name == "nt" else "python")
    stamp = DEMO_ENV / ".rt-installed"
    wanted = " ".join(DEMO_NEEDS)
    if not (python.exists() and stamp.exists() and stamp.read_text() == wanted):
        print(f"dev.py: demo: creating {DEMO_ENV.name} (first run only) ...", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(DEMO_ENV)
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        print("dev.py: demo: installing the build backend (hatchling) ...", flush=True)
        subprocess.run([*pip, "hatchling>=1.25", "editables>=0.3"], check=True)
        print(f"dev.py: demo: installing {', '.join(DEMO_NEEDS)} (editable) ...", flush=True)
        editables = [arg for name in DEMO_NEEDS for arg in ("-e", str(ROOT / "packages" / name))]
        subprocess.run([*pip, "--no-build-isolation", *editables], check=True)
        stamp.write_text(wanted)
    print("dev.py: demo: starting mini-redis and 50 rt clients ...", flush=True)
    return subprocess.run(
        [str(python), str(ROOT / "tools" / "demo.py"), *extra], cwd=ROOT
    ).returncode


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in TASKS:
        print(__doc__)
        print(f"tasks: {', '.join(TASKS)}")
        return 2
    task, extra = argv[0], argv[1:]
    if task == "demo":
        return run_demo(extra)
    hatch = ensure_hatch()
    if task == "wheels":
        wheels = [str(_bin("python")), str(ROOT / "tools" / "wheels.py"), *extra]
        return subprocess.run(wheels, cwd=ROOT).returncode
    env = with_pyenv_versions(dict(os.environ))
    main_step = 1 if task == "bench" else 0  # where the extra arguments go
    steps = [[*step, *(extra if i == main_step else [])] for i, step in enumerate(TASKS[task])]
    if task in ("test", "check", "bench", "console-shot"):
        ensure_redis_tools()
    if task in ("test", "check", "bench"):
        ensure_tls_tools()
    if task in ("test", "check", "console-shot"):
        ensure_tmux()
    if task == "bench":
        ensure_valgrind()
    if task == "test" and "--quick" in extra:
        # One pass: the default interpreter and flavor, pure-Python build.
        rest = [arg for arg in extra if arg != "--quick"]
        steps = [["run", "test", "-o", "rt_flavors=current_thread", *rest]]
        print(
            "dev.py: --quick: one pass (default python, current-thread flavor); the full run "
            "adds the multi-thread flavor, Python 3.12/3.13 and the compiled build"
        )
    elif task in ("test", "check"):
        # The suite again on the other supported Pythons, where this machine has them.
        for version in OTHER_PYTHONS:
            if python_available(version, env):
                steps.insert(1, ["run", f"+py={version}", "versions:test"])
            else:
                print(f"dev.py: python{version} not found: the suite runs on it only where it is")
    for step in steps:
        print(f"dev.py: {' '.join(step)}", flush=True)
        rc = subprocess.run([str(hatch), *step], cwd=ROOT, env=env).returncode
        if rc != 0:
            return rc
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
