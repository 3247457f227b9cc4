"""Build every rt distribution compiled with mypyc, and run the test suite against that build.

    python tools/compiled.py build          # compile into .hatch/compiled (always rebuilds)
    python tools/compiled.py test [ARGS]    # build (if the sources changed), then pytest ARGS
                                            # (the whole suite unless ARGS name test paths)
    python tools/compiled.py path           # build if needed; print the build's directory

Run it with the workspace's default environment (``hatch run test-compiled`` does; so do
``python3 tools/dev.py compiled``, ``test`` and ``bench``). The compiled build is opt-in and
covers every runtime distribution: rt-core, rt-time, rt-sync, rt-net and rt-macros. Their
``src/rt`` trees are merged into one temporary tree (they share the ``rt`` package), mypyc
compiles them there in one group (calls between compiled modules of different distributions
stay native), and the result (extension modules, plus the Python sources of the modules left
out below) lands in ``.hatch/compiled``. Nothing is ever built inside ``packages/``: the
editable installs would pick it up.

The tests run with that directory first on ``PYTHONPATH``: all of ``rt`` comes from the
compiled build, and ``RT_EXPECT_COMPILED=1`` makes the suite refuse to start if the pure
sources were imported.

rt-core's own wheel keeps its mypyc build hook (``packages/rt-core/pyproject.toml``,
``HATCH_BUILD_HOOK_ENABLE_MYPYC=1``); its exclusion list is read from there, so the two
builds leave out the same rt-core modules.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ROOT / "packages"
# The runtime distributions. rt-fs, rt-process, rt-signal and rt-asyncio stay Python: they
# are not on a per-operation path (a file operation is a round trip to the blocking pool, a
# child or a signal an event, not a stream of them), and most of their modules would not
# compile as they are (read from the sources, not tried with mypyc). Module by module:
# rt.fs._ops: public async functions (compiled, they report no __module__, see _copy below);
# rt.fs._file: File declares a __weakref__ slot and is built by object.__new__; rt.fs._read_dir:
# ReadDir and DirEntry are built by object.__new__ (only rt.fs._pool, two private helpers,
# has none of these). rt.process._proc: a typing.Protocol; _child: a __weakref__ slot and
# object.__new__; _pipe: __weakref__ slots; _command: object.__new__ (only _reaper has none).
# rt.signal: ctrl_c is a public async function; unix: a __weakref__ slot and object.__new__;
# _registry: __weakref__ slots, and its listeners are held in a WeakSet, so the slot is used.
# rt-asyncio's loop derives from asyncio's Python classes (below).
# rt-asyncio, tried with mypyc 2.4: it stops with an internal error before emitting any C.
# RtEventLoop derives from asyncio's Python loop class (typed Any, so that mypy lets it use
# asyncio's private attributes), and mypyc cannot resolve the attributes that class inherits
# ("KeyError: 'RtEventLoop' has no attribute '_internal_fds'" at the first one it writes);
# the Handle/TimerHandle/transport subclasses renamed after their definition (so that their
# repr reads as asyncio's) crash it too ("KeyError: '__name__'"). Marking these classes
# non-native would compile them as ordinary Python classes: nothing hot would be gained.
DISTRIBUTIONS = ("rt-core", "rt-time", "rt-sync", "rt-net", "rt-macros")
SITE = ROOT / ".hatch" / "compiled"
STAMP = SITE / ".source-hash"

# Modules of the other distributions that stay Python, relative to the merged tree, and why.
# (rt-core's list, with its reasons, is its wheel hook's: see core_excluded().)
NOT_COMPILED: dict[str, str] = {
    # Package __init__ modules only re-export names and set their public __module__
    # (rt._exports.public); compiled functions refuse a new __module__, and nothing there runs
    # per operation.
    "rt/time/__init__.py": "re-exports only",
    "rt/sync/__init__.py": "re-exports only",
    "rt/io/__init__.py": "re-exports only",
    "rt/net/__init__.py": "re-exports only",
    "rt/macros/__init__.py": "re-exports only",
    "rt/sync/mpsc.py": "re-exports only",
    "rt/sync/oneshot.py": "re-exports only",
    "rt/sync/watch.py": "re-exports only",
    "rt/sync/broadcast.py": "re-exports only",
    "rt/net/tls.py": "re-exports only",
    "rt/sync/_stats.py": "dataclasses loaded on first use (statistics()), not per operation",
    # pytest loads its plugins by module and inspects their hook functions' signatures and
    # markers, which compiled functions do not carry; it runs once per test, not per operation.
    "rt/macros/_pytest_plugin.py": "a pytest plugin: pytest introspects its hook functions",
    # mypyc cannot compile a class deriving from a builtin exception other than Exception
    # itself ("Inheriting from most builtin types is unimplemented"): Elapsed is a
    # TimeoutError, IncompleteReadError an EOFError. Marking them non-native would change
    # rt's sources for the build's sake, so these modules stay Python.
    "rt/time/_api.py": "Elapsed(TimeoutError): mypyc cannot inherit from that builtin",
    "rt/io/_errors.py": "IncompleteReadError(EOFError): mypyc cannot inherit from that builtin",
    "rt/sync/_errors.py": "SendTimeout(ChannelFull, TimeoutError): mypyc cannot inherit from that",
    # Constructs mypyc does not implement, in code that would have to be rewritten for it.
    "rt/io/_buf.py": "an async generator (mypyc: unimplemented)",
    "rt/io/_duplex.py": "break inside try/finally (mypyc: unimplemented)",
    # typing.Protocol classes whose methods have `...` defaults: compiled, the module fails
    # to import ("int object expected; got ellipsis"); protocols do no work at run time.
    "rt/io/_traits.py": "Protocol classes: compiled, the module fails to import",
    # The channels compile (rt.sync._mpsc, _oneshot, _watch, _broadcast: their handles gave
    # up their unused __weakref__ slots, which mypyc 2.4 on 3.11 mismanages; see
    # docs/design-notes.md, "No __weakref__ slot in a compiled class"); their constructors
    # are tuple subclasses, a builtin mypyc cannot inherit from, so they live apart.
    "rt/sync/_mpsc_channel.py": "channel(), unbounded_channel(): tuple subclasses",
    "rt/sync/_oneshot_channel.py": "oneshot.channel(): a tuple subclass",
    "rt/sync/_watch_channel.py": "watch.channel(): a tuple subclass",
    "rt/sync/_broadcast_channel.py": "broadcast.channel(): a tuple subclass",
    # rt.sync._waitqueue compiles (Waiter, park, the select branches); two of its classes
    # live apart, in rt.sync._plain. WaitQueue is an OrderedDict subclass: compiled by mypyc
    # 2.4, the first item set in one crashes the interpreter (a segfault, reproduced with a
    # five-line class). Acquisition (what lock()/acquire() return): a compiled __aenter__
    # coroutine hides what it awaits, so rt.dump() no longer said a task waits on a Mutex.
    "rt/sync/_plain.py": "WaitQueue: OrderedDict subclass segfaults; Acquisition: see above",
    # rt-net's sockets (rt.net._socket, _tcp, _unix, _dgram) and rt.io._fd compile: their
    # classes gave up the __weakref__ slot, which nothing used (the reactor's ownership check
    # holds a weakref to the socket.socket inside; see docs/design-notes.md, "rt-net compiled").
    # Objects made by object.__new__ (their __init__ refuses direct construction): a compiled
    # class made that way gets no vtable. TlsStream also has Protocol defaults (compiled, the
    # module fails to import). Neither is on the per-request path of a plain socket.
    "rt/io/_std.py": "Stdin/Stdout/Stderr are made by object.__new__ (no vtable compiled)",
    "rt/net/_tls.py": "TlsStream made by object.__new__; Protocol defaults fail to import",
    # Public async functions: compiled, mypyc's function objects report no __module__ (None)
    # and refuse a new one, so rt.io.copy, copy_bidirectional and rt.net.lookup_host could
    # not present their public home (tests/test_exports.py checks it).
    "rt/io/_copy.py": "public async functions: compiled, they report no __module__",
    "rt/net/_addr.py": "public async function lookup_host: compiled, it reports no __module__",
    # Compiled, a cancelled select crashed the interpreter in a garbage collection (a
    # segfault in test_cancelled_select_cancels_and_awaits_its_branches).
    "rt/macros/_combinators.py": "compiled, a cancelled select segfaulted in a collection",
}


def core_excluded() -> set[str]:
    """rt-core's modules that its wheel's mypyc hook leaves out (paths in the merged tree)."""
    config = tomllib.loads((PACKAGES / "rt-core" / "pyproject.toml").read_text())
    hook = config["tool"]["hatch"]["build"]["targets"]["wheel"]["hooks"]["mypyc"]
    return {path.removeprefix("src/") for path in hook["exclude"]}


def sources() -> list[Path]:
    """Every source file of every distribution that goes into the build, sorted."""
    out = []
    for dist in DISTRIBUTIONS:
        for path in sorted((PACKAGES / dist / "src").rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".so":
                out.append(path)
    return out


def source_hash() -> str:
    """A digest of everything that goes into the build: the interpreter, what is compiled, and
    every source file."""
    digest = hashlib.sha256(sys.version.encode())
    digest.update(json.dumps(modules()).encode())
    for path in sources():
        digest.update(str(path.relative_to(PACKAGES)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def modules() -> list[str]:
    """The modules mypyc compiles, as paths in the merged tree (``rt/sync/_event.py``)."""
    excluded = core_excluded() | set(NOT_COMPILED)
    out = []
    for dist in DISTRIBUTIONS:
        src = PACKAGES / dist / "src"
        for path in sorted(src.rglob("*.py")):
            rel = path.relative_to(src).as_posix()
            # rt-core's hook compiles rt/_core only: rt's own modules (rt/__init__.py,
            # rt.lowlevel, the re-export helpers) stay Python, as in its wheel.
            if rel not in excluded and rel.count("/") >= 2:
                out.append(rel)
    return out


SETUP = """\
import json, sys
from setuptools import setup
from mypyc.build import mypycify

setup(
    name="rt-compiled",
    ext_modules=mypycify(json.loads(sys.argv.pop(1)), opt_level="3"),
    script_args=sys.argv[1:],
)
"""


def build(force: bool = False) -> Path:
    """Compile every distribution into ``SITE``; reuse the build if nothing changed."""
    wanted = source_hash()
    if not force and STAMP.exists() and STAMP.read_text() == wanted:
        return SITE
    print(f"compiled.py: compiling {', '.join(DISTRIBUTIONS)} with mypyc ...", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "tree"
        for dist in DISTRIBUTIONS:
            shutil.copytree(
                PACKAGES / dist / "src",
                tree,
                dirs_exist_ok=True,
                ignore=shutil.ignore_patterns("__pycache__", "*.so"),
            )
        compiled = modules()
        (tree / "setup.py").write_text(SETUP)
        cmd = [sys.executable, "setup.py", json.dumps(compiled), "build_ext", "--inplace"]
        done = subprocess.run(cmd, cwd=tree, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.stderr.write(done.stdout[-6000:] + done.stderr[-6000:])
            raise SystemExit("compiled.py: the mypyc build failed (output above)")
        for rel in compiled:  # the extension module replaces the source
            (tree / rel).unlink()
        shutil.rmtree(SITE, ignore_errors=True)
        shutil.copytree(
            tree,
            SITE,
            ignore=shutil.ignore_patterns("build", "setup.py", "*.c", "*.h", "__pycache__"),
        )
    missing = [m for m in compiled if not list((SITE / m).parent.glob(Path(m).stem + ".*.so"))]
    if missing:
        raise SystemExit(f"compiled.py: no extension module built for {missing}")
    # Import every module of the build once: a module mypyc compiles but that then fails to
    # import is named here, not as a collection error halfway through the test suite.
    names = [m.removesuffix(".py").replace("/", ".") for m in compiled]
    check = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)"
    imported = subprocess.run(
        [sys.executable, "-c", check, *names], env=compiled_env(SITE), cwd=SITE, check=False
    )
    if imported.returncode != 0:
        raise SystemExit("compiled.py: a compiled module fails to import (traceback above)")
    STAMP.write_text(wanted)
    print(f"compiled.py: {len(compiled)} modules compiled into {SITE.relative_to(ROOT)}")
    return SITE


def c_compiler() -> bool:
    """Whether the C compiler this Python builds extensions with is installed."""
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    return shutil.which(cc) is not None


def compiled_env(site: Path) -> dict[str, str]:
    """The environment of a process that must import the compiled build."""
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
    # Test paths among ARGS (``packages/rt-sync``, ``tests/test_x.py::test_y``) narrow the run
    # to them; without any, the whole suite runs.
    chosen = [a for a in extra if not a.startswith("-") and (ROOT / a.split("::")[0]).exists()]
    pytest = [
        sys.executable,
        "-m",
        "pytest",
        *([] if chosen else ["packages", "tests", "examples"]),
    ]
    # The packaging test builds pure wheels of every member; it runs in the pure pass.
    pytest += ["--deselect", "tests/test_packaging.py", "-q", *extra]
    return subprocess.run(pytest, cwd=ROOT, env=compiled_env(site), check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
