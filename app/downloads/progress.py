"""Download progress: what a callback receives, and the tracker that computes rate and ETA.

Progress is measured by Roost's own transfer loop (``app.downloads._transfer``), which counts
the bytes it writes; it does not hook huggingface_hub's tqdm bars. That keeps the numbers
monotonic across resumes and retries (bytes already on disk count as done from the start).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class DownloadProgress:
    """One progress report for a whole model variant (all its files together).

    ``bytes_done`` and ``bytes_total`` are bytes; ``rate_bps`` is bytes per second over this
    call's transfer (bytes resumed from disk do not inflate it); ``eta_s`` is seconds left at
    that rate, ``None`` while the rate is unknown. ``file_name`` is the file being fetched.
    """

    bytes_done: int
    bytes_total: int
    rate_bps: float
    eta_s: float | None
    file_name: str
    files_done: int
    files_total: int

    @property
    def fraction(self) -> float:
        """Done as a fraction in [0, 1]."""
        return 1.0 if self.bytes_total <= 0 else min(1.0, self.bytes_done / self.bytes_total)


ProgressCallback = Callable[[DownloadProgress], None]


class ProgressTracker:
    """Accumulates byte counts and calls ``callback`` at most every ``interval_s`` seconds.

    Reports never go backwards: ``bytes_done`` only grows. :meth:`finish` always reports,
    so the last report reaches ``bytes_total`` when the download completes.
    """

    def __init__(
        self,
        callback: ProgressCallback | None,
        bytes_total: int,
        files_total: int,
        *,
        interval_s: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._callback = callback
        self._total = bytes_total
        self._files_total = files_total
        self._interval_s = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._done = 0
        self._transferred = 0  # bytes received over the network in this call
        self._files_done = 0
        self._file_name = ""
        self._started = clock()
        self._last_report = float("-inf")

    @property
    def bytes_done(self) -> int:
        return self._done

    def start_file(self, file_name: str, already_on_disk: int) -> None:
        """A file begins; ``already_on_disk`` bytes of it (resumed) count as done."""
        with self._lock:
            self._file_name = file_name
            self._done += already_on_disk
        self._report(force=True)

    def advance(self, n_bytes: int) -> None:
        """``n_bytes`` more bytes were received and written."""
        with self._lock:
            self._done += n_bytes
            self._transferred += n_bytes
        self._report(force=False)

    def end_file(self) -> None:
        with self._lock:
            self._files_done += 1
        self._report(force=True)

    def finish(self) -> None:
        """Report the final state (``bytes_done == bytes_total`` after a full download)."""
        self._report(force=True)

    def snapshot(self) -> DownloadProgress:
        with self._lock:
            elapsed = max(self._clock() - self._started, 1e-9)
            rate = self._transferred / elapsed
            remaining = max(self._total - self._done, 0)
            eta = remaining / rate if rate > 0 else (0.0 if remaining == 0 else None)
            return DownloadProgress(
                bytes_done=self._done,
                bytes_total=self._total,
                rate_bps=rate,
                eta_s=eta,
                file_name=self._file_name,
                files_done=self._files_done,
                files_total=self._files_total,
            )

    def _report(self, *, force: bool) -> None:
        if self._callback is None:
            return
        now = self._clock()
        if not force and now - self._last_report < self._interval_s:
            return
        self._last_report = now
        self._callback(self.snapshot())
