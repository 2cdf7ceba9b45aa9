"""`reconciler emulate`: serve the provider emulator on loopback until interrupted."""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading
from types import FrameType

from reconciler.emulator import Emulator, Faults, is_loopback
from reconciler.emulator.core import emulated
from reconciler.emulator.server import LoggedRequest
from reconciler.errors import UsageError

DESCRIPTION = "Serve every registered provider's emulator on one loopback port until Ctrl-C."


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `emulate` command."""
    p = subparsers.add_parser(
        "emulate",
        help="serve a local emulator of every provider on loopback",
        description=DESCRIPTION,
    )
    add_arguments(p)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The emulate flags (shared with `python -m reconciler.emulator`)."""
    p.add_argument("--port", type=int, default=8765, help="port to listen on (default 8765; 0 picks one)")
    p.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    p.add_argument("--latency", type=float, default=0.0, metavar="S", help="seconds added to every API call")
    p.add_argument("--rate-429", type=float, default=0.0, metavar="P", help="share of API calls answered 429")
    p.add_argument("--rate-5xx", type=float, default=0.0, metavar="P", help="share answered 500/503")
    p.add_argument("--rate-drop", type=float, default=0.0, metavar="P", help="share dropped unanswered")
    p.add_argument(
        "--rate-drop-after",
        type=float,
        default=0.0,
        metavar="P",
        help="share carried out, then dropped unanswered",
    )
    p.add_argument("--retry-after", type=int, default=1, metavar="S", help="Retry-After seconds on 429/503")
    for api in emulated().values():
        api.add_arguments(p)
    p.add_argument("--polls", type=int, default=1, metavar="N",
                   help="reads per asynchronous status step (default 1)")
    p.add_argument("--seed", type=int, default=0, help="seed for ids and faults")
    p.add_argument("--quiet", action="store_true", help="do not log each request")
    p.set_defaults(func=run)


def build(args: argparse.Namespace) -> Emulator:
    """An unstarted Emulator from parsed flags; UsageError on bad values."""
    if not is_loopback(args.host):
        raise UsageError(
            f"--host {args.host}: the emulator only listens on loopback (127.0.0.1, ::1, localhost)"
        )
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: must be between 0 and 65535")
    if args.polls < 1:
        raise UsageError("--polls must be at least 1")
    try:
        faults = Faults(
            rate_429=args.rate_429,
            rate_5xx=args.rate_5xx,
            rate_drop=args.rate_drop,
            drop_after_processing=args.rate_drop_after,
            retry_after=args.retry_after,
            latency=args.latency,
        )
    except ValueError as exc:
        raise UsageError(f"fault flags: {exc}") from None
    on_request = None if args.quiet else _print_request
    builtin = {"port", "host", "seed", "polls", "quiet", "func", "command", "latency", "retry_after"}
    options = {k: v for k, v in vars(args).items() if k not in builtin and not k.startswith("rate_")}
    return Emulator(
        args.port,
        faults,
        seed=args.seed,
        host=args.host,
        polls_per_step=args.polls,
        on_request=on_request,
        **options,
    )


def _print_request(item: LoggedRequest) -> None:
    status = "dropped" if item.status == 0 else str(item.status)
    fault = f" [{item.fault}]" if item.fault else ""
    summary = " ".join(f"{k}={v}" for k, v in item.summary.items())
    sys.stderr.write(
        f"{item.provider:<11} {item.method:<6} {item.path} -> {status}{fault} {summary}".rstrip() + "\n"
    )


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C (or SIGTERM); prints the export lines a client needs."""
    emulator = build(args)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops it as cleanly as Ctrl-C
    try:
        emulator.start()
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    try:
        out = sys.stdout
        out.write(f"# reconciler provider emulator on {emulator.root_url} (Ctrl-C to stop)\n")
        for name, value in emulator.env().items():
            out.write(f"export {name}={shlex.quote(value)}\n")
        out.flush()
        emulator.serve_forever()
    except KeyboardInterrupt:
        sys.stderr.write("Emulator stopped.\n")
    finally:
        emulator.stop()
    return 0
