"""`python -m sandbox up [--vendor X] ...`: serve the emulators until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading

from sandbox import VENDORS, available_vendors, emulator_class
from sandbox.framework import RunningEmulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start emulators and print their base URLs")
    up.add_argument("--vendor", action="append", choices=sorted(VENDORS), help="only this vendor (repeatable)")
    up.add_argument("--host", default="127.0.0.1", help="loopback address to listen on")
    up.add_argument("--port", type=int, help="port (only with one --vendor; 0 = any free port)")
    up.add_argument("--any-port", action="store_true", help="let every emulator pick a free port")
    up.add_argument("--seed", type=int, default=42, help="seed of the generated data")
    up.add_argument("--scale", type=int, default=100, help="records per collection")
    up.add_argument("--setting", action="append", default=[], metavar="JSON", help="settings to merge")
    up.add_argument("--fault", action="append", default=[], metavar="JSON", help="a fault spec to inject")
    up.add_argument("--check-contract", action="store_true",
                    help="check traffic against the vendor's API file (GET /_sandbox/contract lists what it refused)")
    up.add_argument("--json", action="store_true", help="print one JSON object of URLs instead of lines")
    up.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, stream=sys.stderr)

    vendors = args.vendor or available_vendors()
    if args.port is not None and len(vendors) != 1:
        parser.error("--port needs exactly one --vendor")
    settings: dict = {}
    for text in args.setting:
        settings.update(json.loads(text))
    running: list[RunningEmulator] = []
    try:
        for vendor in vendors:
            emulator = emulator_class(vendor)(seed=args.seed, scale=args.scale,
                                              check_contract=args.check_contract, **settings)
            if args.fault:
                emulator.faults.add(json.loads(text) for text in args.fault)
            port = args.port if args.port is not None else (0 if args.any_port else emulator.default_port)
            running.append(RunningEmulator(emulator, host=args.host, port=port).start())
        urls = {r.emulator.vendor: r.base_url for r in running}
        if args.json:
            print(json.dumps(urls), flush=True)
        else:
            for vendor, url in urls.items():
                print(f"{vendor:<14} {url}", flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        stop.wait()
    finally:
        for server in running:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
