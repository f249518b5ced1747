"""`make orchestrate`: the API emulators and the Dagster UI (`dagster dev`) on loopback; Ctrl-C stops both.

The code location is `orchestration.definitions`. Runs load into ORCHESTRATION_LOADER (target-jsonl
unless set: output/jsonl/<tap>/<part>/), keep Meltano's state per part, and Dagster keeps its runs in
output/dagster/ (DAGSTER_HOME), so a second `make orchestrate` shows the first one's history.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from demo import REPO, start_sandbox

HOST = "127.0.0.1"
#: The sandbox's first segmentation (three segments): Bloomreach customers run as four parts.
SANDBOX_ENV = {
    "ORCHESTRATION_BLOOMREACH_SEGMENTATION_ID": "606488856f8cf6f848b20af8",
    "ORCHESTRATION_BLOOMREACH_SEGMENT_COUNT": "3",
}


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 900) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        with socket.socket() as sock:
            if sock.connect_ex((HOST, port)) == 0:
                return True
        time.sleep(0.5)
    return False


def main() -> int:
    port = int(os.environ.get("ORCHESTRATE_PORT", "3000"))
    home = REPO / "output" / "dagster"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REPO / "orchestration" / "dagster.yaml", home / "dagster.yaml")
    print("Starting the API emulators ...")
    sandbox, _ = start_sandbox()
    env = {**SANDBOX_ENV, **os.environ, "DAGSTER_HOME": str(home), "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"}
    command = ["dagster", "dev", "-m", "orchestration.definitions", "-h", HOST, "-p", str(port)]
    dagster = subprocess.Popen(command, cwd=REPO, env=env)
    print(f"\nDagster UI: http://{HOST}:{port}  (starting; Ctrl-C stops it and the emulators)\n", flush=True)
    try:
        if wait_for_port(port, dagster):
            print(f"\nDagster UI ready: http://{HOST}:{port}\n", flush=True)
        return dagster.wait()
    except KeyboardInterrupt:  # the terminal sent SIGINT to dagster too; give it time to stop its processes
        return dagster.wait(timeout=60)
    finally:
        if dagster.poll() is None:
            dagster.send_signal(signal.SIGINT)
            dagster.wait(timeout=60)
        sandbox.send_signal(signal.SIGTERM)
        sandbox.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
