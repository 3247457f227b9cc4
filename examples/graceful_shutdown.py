"""A TCP line-echo server that shuts down gracefully on SIGTERM (or Ctrl-C).

On SIGTERM it stops accepting, lets every open connection finish (for up to ``--grace``
seconds, after which the stragglers are cancelled), and exits with status 0: what a service
manager or a container runtime expects. Run it with::

    .hatch/default/bin/python examples/graceful_shutdown.py --port 7000
    kill -TERM <pid>        # or press Ctrl-C

Built on rt-net (the server), rt-signal (SIGTERM and Ctrl-C as awaitables), rt-macros
(``select``) and rt-time (the grace period).
"""

from __future__ import annotations

import argparse

import rt
import rt.signal
import rt.time
from rt.io import BufReader
from rt.net import TcpListener, TcpStream
from rt.signal.unix import SignalKind, signal


async def echo_lines(stream: TcpStream) -> None:
    """Echo each line back until the client closes the connection."""
    async with stream:
        async for line in BufReader(stream).lines():
            await stream.write_all(line + b"\n")


async def serve(port: int, grace: float) -> None:
    listener = await TcpListener.bind(("127.0.0.1", port))
    terminate = signal(SignalKind.terminate())
    interrupt = signal(SignalKind.interrupt())
    print(f"listening on {listener.local_addr()[1]}", flush=True)
    connections = rt.JoinSet[None]()
    while True:
        # A listening signal stream replaces the default action: SIGTERM no longer kills
        # the process, it completes this select.
        index, accepted = await rt.select(listener.accept(), terminate.recv(), interrupt.recv())
        if index != 0 or isinstance(accepted, bool):
            break
        stream, _peer = accepted
        connections.spawn(echo_lines(stream))
    listener.close()
    print(f"shutting down: waiting for {len(connections)} connection(s)", flush=True)
    try:
        with rt.time.timeout(grace):
            await connections.join_all()
    except rt.time.Elapsed:
        print("grace period over: closing the rest", flush=True)
        await connections.shutdown()
    terminate.close()
    interrupt.close()
    print("bye", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--grace", type=float, default=5.0, help="seconds to let clients finish")
    args = parser.parse_args()
    rt.run(serve(args.port, args.grace))


if __name__ == "__main__":
    main()
