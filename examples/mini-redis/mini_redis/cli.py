"""``python -m mini_redis.cli [--addr H:P] get KEY | set KEY VALUE [--ex S] | publish CH MSG |
subscribe CH...``: the mini-redis client as a command-line tool."""

from __future__ import annotations

import argparse
import sys

import rt

from .client import Client


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mini-redis-cli", description="mini-redis client on rt")
    p.add_argument("--addr", default="127.0.0.1:6379", help="server address (host:port)")
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("get", help="print the value of KEY ((nil) if absent)")
    g.add_argument("key")
    s = sub.add_parser("set", help="set KEY to VALUE")
    s.add_argument("key")
    s.add_argument("value")
    s.add_argument("--ex", type=int, default=None, help="expire after this many seconds")
    pub = sub.add_parser("publish", help="publish MESSAGE on CHANNEL")
    pub.add_argument("channel")
    pub.add_argument("message")
    su = sub.add_parser("subscribe", help="print messages from CHANNELs until Ctrl-C")
    su.add_argument("channels", nargs="+")
    su.add_argument("--count", type=int, default=0, help="exit after this many messages")
    return p


async def run(args: argparse.Namespace) -> int:
    """Run one CLI command; return the exit status.

    Cancel safety: not cancel-safe (a request may be left half-done; the connection closes).
    """
    async with await Client.connect(args.addr) as client:
        if args.cmd == "get":
            value = await client.get(args.key)
            print("(nil)" if value is None else value.decode(errors="replace"))
        elif args.cmd == "set":
            await client.set(args.key, args.value, ex=args.ex)
            print("OK")
        elif args.cmd == "publish":
            print(await client.publish(args.channel, args.message))
        else:
            subscriber = await client.subscribe(*args.channels)
            seen = 0
            async for channel, message in subscriber:
                print(f"{channel.decode(errors='replace')}: {message.decode(errors='replace')}")
                sys.stdout.flush()
                seen += 1
                if args.count and seen >= args.count:
                    break
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = parser().parse_args(argv)

    @rt.main
    async def entry() -> int:
        return await run(args)

    try:
        return entry()
    except (ConnectionError, OSError) as exc:
        print(f"mini-redis-cli: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
