"""The optional OpenCV window of ``live`` (q quits, m mutes); guarded for headless machines."""

from __future__ import annotations

import logging
import os

import numpy as np

from formcoach.sources.camera import _cv2

log = logging.getLogger(__name__)

__all__ = ["Window", "display_available", "open_window"]


def display_available() -> bool:
    """True when a GUI window can open (X11 or Wayland display set; always on macOS/Windows)."""
    if os.name == "nt" or os.uname().sysname == "Darwin":
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


class Window:
    """An OpenCV window showing BGR frames; :meth:`show` returns the key action."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.cv2 = _cv2()
        self.cv2.namedWindow(title, self.cv2.WINDOW_NORMAL)

    def show(self, image: np.ndarray) -> str | None:
        """Draw ``image``; ``"quit"`` (q, Esc), ``"mute"`` (m) or None."""
        self.cv2.imshow(self.title, image)
        key = self.cv2.waitKey(1) & 0xFF
        if key in (ord("q"), 27):
            return "quit"
        if key == ord("m"):
            return "mute"
        return None

    def close(self) -> None:
        try:
            self.cv2.destroyWindow(self.title)
            self.cv2.waitKey(1)
        except Exception:  # window already gone
            pass


def open_window(title: str) -> Window | None:
    """A window, or None (one log line) without a display or a GUI-capable OpenCV."""
    if not display_available():
        log.info("no display (DISPLAY/WAYLAND_DISPLAY unset): running headless")
        return None
    try:
        return Window(title)
    except Exception as e:  # OpenCV built without GUI, display refused...
        log.warning("cannot open a window (%s); running headless", e)
        return None
