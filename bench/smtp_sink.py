"""An SMTP server that accepts every message, keeps none, and counts them.

Run as ``python -m bench.smtp_sink PORT COUNT_FILE``: the count is written to
COUNT_FILE (replaced atomically) every 50 ms while it changes, which is how the
harness reads it. Not after every message: that cost the sink a third of its CPU in
the drain, on the same two cores as the worker it measures.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

WRITE_INTERVAL = 0.05


class CountingHandler:
    def __init__(self, count_file: Path) -> None:
        self.count_file = count_file
        self.count = 0
        self.written = -1
        self.write()

    def write(self) -> None:
        count = self.count
        if count == self.written:
            return
        draft = self.count_file.with_suffix(".tmp")
        draft.write_text(str(count))
        os.replace(draft, self.count_file)
        self.written = count

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1  # the controller's one event loop thread: no lock needed
        return "250 OK"


def main() -> None:
    port, count_file = int(sys.argv[1]), Path(sys.argv[2])
    handler = CountingHandler(count_file)
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    print(f"smtp sink listening on 127.0.0.1:{port}", flush=True)
    while not stop.wait(WRITE_INTERVAL):
        handler.write()
    controller.stop()
    handler.write()


if __name__ == "__main__":
    main()
