"""redis-benchmark against mini-redis on rt (each flavor and worker count), on asyncio and
uvloop, and the real redis-server.

    python -m tools.bench redis [--quick] [--rounds N]

A script suite (it keeps its servers up across rounds, so it drives its own processes and
hands the harness its section). 50 clients, ``-t ping,set,get,incr``, without and with
pipelining (``-P 16``). Each server runs in its own process, pinned to one CPU
(redis-benchmark gets the other); all stay up through the rounds, each command runs on them
back to back, and the median requests/s is reported. ``rt`` is mini-redis on the
current-thread flavor; ``rt-mt1`` and ``rt-mt2`` the same server on the multi-thread flavor
with one and two workers (``RT_FLAVOR`` / ``RT_WORKER_THREADS``).

Requests/s and CPU seconds move with whatever else the (shared, 2-core) machine does, by more
than the servers differ at ``-P 16``. So each Python server is also run once under valgrind's
callgrind, which counts the instructions the server executes while ``redis-benchmark`` drives
it: a count that other load on the machine hardly moves.

A second table times one big ``SET`` (2 MiB and 16 MiB values) written in 64 KiB writes, so
the server reads it in many pieces: with linear buffering the 16 MiB one costs about 8x the
2 MiB one, not the ~87x that re-joining and re-parsing the buffer at every read cost.

Needs ``redis-benchmark`` (and ``redis-server`` for the anchor column, ``valgrind`` for the
instruction counts); ``tools/dev.py bench`` installs them where it can.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..harness import Options

NAME = "redis"
ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "mini-redis"
TESTS = ["PING_INLINE", "PING_MBULK", "SET", "GET", "INCR"]
ALL = "ping,set,get,incr"
GROUPS = ["ping", "set", "get", "incr"]  # one redis-benchmark run each ("ping": both PINGs)
SERVERS = ["rt", "rt-mt1", "rt-mt2", "asyncio", "uvloop", "redis-server"]
# rt's server on each flavor and worker count: the same program, picked by the environment.
FLAVORS = {
    "rt": {"RT_FLAVOR": "current_thread"},
    "rt-mt1": {"RT_FLAVOR": "multi_thread", "RT_WORKER_THREADS": "1"},
    "rt-mt2": {"RT_FLAVOR": "multi_thread", "RT_WORKER_THREADS": "2"},
}
COUNTED = ["rt", "asyncio", "uvloop"]  # the servers whose instructions callgrind counts


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def command(server: str, port: int) -> list[str]:
    """How to run one of the Python servers."""
    if server in FLAVORS:
        return [sys.executable, "-m", "mini_redis.server", "--port", str(port)]
    cmd = [sys.executable, "-m", "mini_redis.asyncio_server", "--port", str(port)]
    return [*cmd, "--uvloop"] if server == "uvloop" else cmd


def wait_listening(proc: subprocess.Popen[bytes], port: int, what: str, limit: float) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)  # waiting for another process to listen: nothing to await on
    proc.kill()
    raise RuntimeError(f"{what} did not start listening on port {port}")


def _cpu_split() -> tuple[set[int], set[int]] | None:
    """One CPU for the server, the others for redis-benchmark (None: fewer than two, or
    no affinity on this system).

    Pinned, the two never share a core by the scheduler's chance, which on a 2-core machine
    moves requests/s by more than the servers differ.
    """
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:
        return None
    return ({cpus[0]}, set(cpus[1:])) if len(cpus) >= 2 else None


CPUS = _cpu_split()


@contextlib.contextmanager
def _on_cpus(which: int) -> Iterator[None]:
    """Children started inside run on the server's (0) or the client's (1) CPUs.

    This process moves there meanwhile, and its children inherit the affinity.
    """
    if CPUS is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, CPUS[which])
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def start(server: str, port: int) -> subprocess.Popen[bytes] | None:
    if server == "redis-server":
        exe = shutil.which("redis-server")
        if exe is None:
            return None
        cmd = [exe, "--port", str(port), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"]
    else:
        cmd = command(server, port)
    with _on_cpus(0):
        env = {**os.environ, **FLAVORS.get(server, {})}
        proc = subprocess.Popen(cmd, cwd=EXAMPLE, stdout=subprocess.DEVNULL, env=env)
    wait_listening(proc, port, server, 30)
    return proc


def instructions(server: str, pipeline: int, requests: int) -> float:
    """Instructions the server executes per request under redis-benchmark (callgrind).

    Counting is switched on once the server listens and off when the benchmark ends, so
    start-up and shutdown are left out (the 50 connections of each command are counted).
    Needs valgrind (``callgrind_control`` included).
    """
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        proc = subprocess.Popen(
            [
                "valgrind",
                "--tool=callgrind",
                "--instr-atstart=no",
                f"--callgrind-out-file={out}",
                *command(server, port),
            ],
            cwd=EXAMPLE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_listening(proc, port, f"{server} under valgrind", 120)
            control = ["callgrind_control", "--instr"]
            quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "check": True}
            subprocess.run([*control, "on", str(proc.pid)], **quiet)  # type: ignore[call-overload]
            run_benchmark(port, pipeline, requests)
            subprocess.run([*control, "off", str(proc.pid)], **quiet)  # type: ignore[call-overload]
        finally:
            proc.terminate()
            proc.wait(timeout=120)
        found = re.search(r"^totals: (\d+)", out.read_text(), re.M)
    if found is None:
        raise RuntimeError(f"callgrind wrote no totals for {server}")
    return int(found.group(1)) / (requests * len(TESTS))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_benchmark(port: int, pipeline: int, requests: int, tests: str = ALL) -> str:
    """Run redis-benchmark (``requests`` of each command); return its CSV output."""
    with _on_cpus(1):
        return _run_benchmark(port, pipeline, requests, tests)


def _run_benchmark(port: int, pipeline: int, requests: int, tests: str) -> str:
    return subprocess.run(
        [
            "redis-benchmark",
            "-p",
            str(port),
            "-c",
            "50",
            "-n",
            str(requests),
            "-P",
            str(pipeline),
            "-t",
            tests,
            "--csv",
        ],
        capture_output=True,
        text=True,
        timeout=1200,
        check=True,
    ).stdout


def bench(port: int, pipeline: int, requests: int, pid: int, tests: str) -> dict[str, float]:
    """Requests/s per command, and the server's CPU seconds (``"cpu_s"``) over the run."""
    cpu0 = cpu_seconds(pid)
    out = run_benchmark(port, pipeline, requests, tests)
    cpu = cpu_seconds(pid) - cpu0
    rows = list(csv.reader(io.StringIO(out)))
    result = {r[0]: float(r[1]) for r in rows[1:] if r and r[0] in TESTS}
    result["cpu_s"] = cpu
    return result


BIG_VALUES = {"2 MiB": 2 << 20, "16 MiB": 16 << 20}
BIG_SERVERS = ["rt", "asyncio", "uvloop"]


def big_set_ms(port: int, size: int, rounds: int) -> float:
    """Median milliseconds from the first byte of a ``SET`` of ``size`` bytes, written in
    64 KiB writes, to its ``+OK``."""
    request = b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$%d\r\n%b\r\n" % (size, b"v" * size)
    times = []
    with socket.create_connection(("127.0.0.1", port)) as sock:
        for _ in range(rounds):
            t0 = time.perf_counter()
            for i in range(0, len(request), 65536):
                sock.sendall(request[i : i + 65536])
            reply = b""
            while not reply.endswith(b"\r\n"):
                chunk = sock.recv(64)
                if not chunk:
                    raise RuntimeError("the server closed the connection")
                reply += chunk
            times.append(time.perf_counter() - t0)
            if reply != b"+OK\r\n":
                raise RuntimeError(f"unexpected reply to a big SET: {reply!r}")
    return statistics.median(times) * 1000


def big_values(rounds: int) -> dict[str, dict[str, float]]:
    """``{server: {"2 MiB": ms, "16 MiB": ms, "ratio": 16 MiB / 2 MiB}}``."""
    out: dict[str, dict[str, float]] = {}
    for server in BIG_SERVERS:
        port = free_port()
        proc = start(server, port)
        assert proc is not None
        try:
            big_set_ms(port, 1 << 20, 1)  # warm-up
            res = {name: big_set_ms(port, size, rounds) for name, size in BIG_VALUES.items()}
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        res["ratio"] = res["16 MiB"] / res["2 MiB"]
        out[server] = res
    return out


def big_values_markdown(big: dict[str, dict[str, float]]) -> str:
    lines = [
        "## One big SET arriving in 64 KiB writes",
        "",
        "Median milliseconds from the first byte of the request to `+OK`. Linear buffering "
        "means the 16 MiB value costs about 8x the 2 MiB one (the ratio column).",
        "",
        "| server | " + " | ".join(BIG_VALUES) + " | 16 MiB / 2 MiB |",
        "|---|" + "---|" * (len(BIG_VALUES) + 1),
    ]
    for server, res in big.items():
        cells = " | ".join(f"{res[name]:,.1f} ms" for name in BIG_VALUES)
        lines.append(f"| {server} | {cells} | {res['ratio']:.1f}x |")
    return "\n".join(lines) + "\n"


def run(args: Options) -> tuple[dict[str, Any], str] | None:
    """Run the suite; its JSON document and Markdown section (None: no redis-benchmark)."""
    if shutil.which("redis-benchmark") is None:
        print("bench redis: redis-benchmark not installed; skipped", file=sys.stderr)
        return None
    rounds = args.rounds or (1 if args.quick else 7)
    sizes = {1: 20_000 if args.quick else 100_000, 16: 100_000 if args.quick else 500_000}
    raw: dict[str, dict[str, list[dict[str, float]]]] = {
        str(pl): {s: [] for s in SERVERS} for pl in sizes
    }
    # Every server stays up through all the rounds (an idle one costs nothing), so the runs
    # of one command on the different servers follow each other seconds apart: a machine
    # slowing down or speeding up moves them together, and the ratios pair those runs.
    servers: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
    try:
        for server in SERVERS:
            port = free_port()
            proc = start(server, port)
            if proc is not None:
                servers[server] = (proc, port)
                run_benchmark(port, 16, sizes[16] // 10)  # warm-up, not recorded
        for r in range(rounds):
            for pl, n in sizes.items():
                got: dict[str, dict[str, float]] = {s: {"cpu_s": 0.0} for s in servers}
                for g, tests in enumerate(GROUPS):
                    # Alternate the order, so no server always runs first or last.
                    order = list(servers) if (r + g) % 2 == 0 else list(servers)[::-1]
                    for server in order:
                        proc, port = servers[server]
                        res = bench(port, pl, n, proc.pid, tests)
                        got[server]["cpu_s"] += res.pop("cpu_s")
                        got[server].update(res)
                for server, res in got.items():
                    res["cpu_us"] = res.pop("cpu_s") / (n * len(TESTS)) * 1e6
                    raw[str(pl)][server].append(res)
            print(f"redis round {r + 1}/{rounds}", flush=True)
    finally:
        for proc, _port in servers.values():
            proc.terminate()
            proc.wait(timeout=30)
    med: dict[str, dict[str, dict[str, float]]] = {}
    ratios: dict[str, dict[str, dict[str, float]]] = {}
    for plk, per in raw.items():
        med[plk] = {}
        for server, runs in per.items():
            if runs:
                med[plk][server] = {
                    t: statistics.median(x[t] for x in runs) for t in [*TESTS, "cpu_us"]
                }
        # The ratio columns pair the runs of one round (seconds apart for each command),
        # then take the median over the rounds.
        ratios[plk] = {}
        # rt against the asyncio servers (above 1.00: rt better), and each multi-thread
        # variant against current-thread rt (requests/s mt / ct: below 1.00, mt is slower).
        for peer in ("asyncio", "uvloop", "rt-mt1", "rt-mt2"):
            pairs = list(zip(per["rt"], per[peer], strict=False))
            flip = peer in FLAVORS
            if pairs:
                ratios[plk][peer] = {
                    t: statistics.median(
                        (b[t] / a[t]) if t in COST or flip else (a[t] / b[t]) for a, b in pairs
                    )
                    for t in [*TESTS, "cpu_us"]
                }
    # Requests of each command under callgrind (about 50 times slower than a normal run):
    # enough that setting up the 50 connections adds little to the count per request.
    counted = {1: 2_000 if args.quick else 20_000, 16: 10_000 if args.quick else 100_000}
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("bench redis: valgrind not installed; no instruction counts", flush=True)
        counted = {}
    for pl, n in counted.items():
        for server in COUNTED:
            med[str(pl)].setdefault(server, {})["instr"] = instructions(server, pl, n)
        for peer in ("asyncio", "uvloop"):
            have = med[str(pl)]
            if "instr" in have.get("rt", {}) and "instr" in have.get(peer, {}):
                ratio = have[peer]["instr"] / have["rt"]["instr"]
                ratios[str(pl)].setdefault(peer, {})["instr"] = ratio
        print(f"redis instructions counted, -P {pl}", flush=True)
    meta = {
        "date": time.strftime("%Y-%m-%d"),
        "rounds": rounds,
        "quick": args.quick,
        "pinned": CPUS is not None,
    }
    big = big_values(3 if args.quick else 5)
    doc = {"meta": meta, "results": med, "ratios": ratios, "runs": raw, "big_values": big}
    return doc, markdown(med, ratios, meta) + "\n" + big_values_markdown(big)


MEASURES = [*TESTS, "cpu_us", "instr"]
COST = {"cpu_us": "server CPU per request", "instr": "server instructions per request"}


def markdown(
    med: dict[str, dict[str, dict[str, float]]],
    ratios: dict[str, dict[str, dict[str, float]]],
    meta: dict[str, Any],
) -> str:
    lines = [
        "## mini-redis under redis-benchmark, per flavor and worker count",
        "",
        f"`python -m tools.bench redis{' --quick' if meta['quick'] else ''}`: {meta['date']}; "
        f"50 clients, `-t ping,set,get,incr`, {meta['rounds']} round(s), median requests/s "
        "(higher is better). `rt` is examples/mini-redis on rt's current-thread flavor, "
        "`rt-mt1` / `rt-mt2` the same server on the multi-thread flavor with one / two "
        "workers; `asyncio` and "
        "`uvloop` run the same command code, RESP parser and request loop on asyncio streams; "
        "`redis-server` is the real one (the physical limit on this machine). **rt/asyncio** "
        "and **rt/uvloop** above 1.00 mean rt serves more requests per second; each is the "
        "median over the rounds of the ratio within one round. All servers stay up "
        "through the rounds (each after a warm-up run); in a round each command runs on "
        "them back to back, seconds apart, in alternating order.",
        "",
        "Two rows per pipeline compare what the servers themselves spend (all commands; their "
        "ratios are peer/rt, so above 1.00 means rt spends less). *Server CPU per request* is "
        "user + system time from /proc over the timed runs. *Server instructions per request* "
        "is counted by valgrind's callgrind (user space, while redis-benchmark runs, its "
        "connections included; start-up and shutdown left out): "
        "unlike time, it hardly moves with whatever else this shared 2-core machine is doing "
        "(two full runs agreed within 0.1%). On 2 cores `redis-benchmark` itself takes one, "
        "so requests/s are partly client-bound. "
        + (
            "Each server runs pinned to one CPU and redis-benchmark to the other(s), so the "
            "scheduler never puts them on one core by chance."
            if meta.get("pinned")
            else "Server and redis-benchmark were not pinned to CPUs (fewer than two)."
        ),
        "",
        "",
        "**mt1/rt** and **mt2/rt** are the multi-thread server's requests/s over the "
        "current-thread one's (below 1.00: the multi-thread flavor serves fewer; for the cost "
        "rows, above 1.00 it spends more). The pinning holds for `rt-mt2` too: its two workers "
        "share the server's one CPU (the other runs redis-benchmark), so this measures what "
        "the multi-thread machinery costs an I/O-bound server, not parallel speed-up.",
        "",
        "| pipeline | measure | " + " | ".join(SERVERS) + " | rt/asyncio | rt/uvloop "
        "| mt1/rt | mt2/rt |",
        "|---" * (len(SERVERS) + 6) + "|",
    ]
    for pl, per in med.items():
        for t in MEASURES:
            vals = {s: per.get(s, {}).get(t) for s in SERVERS}
            if all(v is None for v in vals.values()):
                continue

            def f(v: float | None, t: str = t) -> str:
                if v is None:
                    return "n/a"
                if t == "cpu_us":
                    return f"{v:.2f} µs"
                return f"{v:,.0f}"

            def r(peer: str, t: str = t, pl: str = pl) -> str:
                v = ratios.get(pl, {}).get(peer, {}).get(t)
                return "n/a" if v is None else f"{v:.2f}"

            lines.append(
                f"| {'none' if pl == '1' else '-P ' + pl} | {COST.get(t, t)} | "
                + " | ".join(f(vals[s]) for s in SERVERS)
                + f" | {r('asyncio')} | {r('uvloop')} | {r('rt-mt1')} | {r('rt-mt2')} |"
            )
    return "\n".join(lines) + "\n"
