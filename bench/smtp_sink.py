"""An SMTP server that accepts every message, keeps none, and counts them.

Run as ``python -m bench.smtp_sink PORT COUNT_FILE``: after each message the count
is written to COUNT_FILE (replaced atomically), which is how the harness reads it.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class CountingHandler:
    def __init__(self, count_file: Path) -> None:
        self.count_file = count_file
        self.count = 0
        self.lock = threading.Lock()
        self._write()

    def _write(self) -> None:
        draft = self.count_file.with_suffix(".tmp")
        draft.write_text(str(self.count))
        os.replace(draft, self.count_file)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.count += 1
            self._write()
        return "250 OK"


def main() -> None:
    port, count_file = int(sys.argv[1]), Path(sys.argv[2])
    controller = Controller(CountingHandler(count_file), hostname="127.0.0.1", port=port)
    controller.start()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    print(f"smtp sink listening on 127.0.0.1:{port}", flush=True)
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
