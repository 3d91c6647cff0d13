"""The optional OpenCV window of ``live``; guarded for headless machines.

Keys: ``q``/Esc quit, ``m`` mute, ``f`` full screen on/off, ``space`` pause, ``n`` next set,
``e`` change the exercise ``--exercise auto`` recognised.
The window is resizable without the OpenCV toolbar, opens large (``DEFAULT_SIZE``), and the
live screen is drawn at whatever size it has (:meth:`Window.size`).
"""

from __future__ import annotations

import logging
import os

import numpy as np

from formcoach.sources.camera import _cv2

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_SIZE", "KEYS", "Window", "display_available", "open_window"]

#: Initial window size, px (the user resizes it or presses f for full screen).
DEFAULT_SIZE = (1280, 720)
#: Key -> action returned by :meth:`Window.show`.
KEYS: dict[int, str] = {ord("q"): "quit", 27: "quit", ord("m"): "mute", ord("f"): "fullscreen",
                        ord(" "): "pause", ord("n"): "next", ord("e"): "exercise"}


def display_available() -> bool:
    """True when a GUI window can open (X11 or Wayland display set; always on macOS/Windows)."""
    if os.name == "nt" or os.uname().sysname == "Darwin":
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


class Window:
    """An OpenCV window showing BGR frames; :meth:`show` returns the key action."""

    def __init__(self, title: str, size: tuple[int, int] = DEFAULT_SIZE) -> None:
        self.title = title
        self.cv2 = _cv2()
        # FREERATIO: the drawn image fills the window. With Qt's default (keep the ratio),
        # getWindowImageRect reports the letterboxed image, not the window, so the screen
        # was drawn at the size of whatever was shown first (1280 x 365 in a 1280 x 720
        # window) and never grew back.
        flags = (self.cv2.WINDOW_NORMAL | getattr(self.cv2, "WINDOW_FREERATIO", 0)
                 | getattr(self.cv2, "WINDOW_GUI_NORMAL", 0))
        self.cv2.namedWindow(title, flags)
        self.cv2.resizeWindow(title, int(size[0]), int(size[1]))
        self._size = (int(size[0]), int(size[1]))
        self.fullscreen = False

    def size(self) -> tuple[int, int]:
        """The window's drawable size, px (the size it was opened with when unknown)."""
        try:
            _, _, w, h = self.cv2.getWindowImageRect(self.title)
            if w >= 160 and h >= 120:
                self._size = (int(w), int(h))
        except Exception:  # a backend without the query
            pass
        return self._size

    def show(self, image: np.ndarray) -> str | None:
        """Draw ``image``; the key action (:data:`KEYS`) or None. ``f`` is handled here."""
        self.cv2.imshow(self.title, image)
        action = KEYS.get(self.cv2.waitKey(1) & 0xFF)
        if action == "fullscreen":
            self.fullscreen = not self.fullscreen
            self.cv2.setWindowProperty(
                self.title, self.cv2.WND_PROP_FULLSCREEN,
                self.cv2.WINDOW_FULLSCREEN if self.fullscreen else self.cv2.WINDOW_NORMAL)
            return None
        return action

    def close(self) -> None:
        try:
            self.cv2.destroyWindow(self.title)
            self.cv2.waitKey(1)
        except Exception:  # window already gone
            pass


def open_window(title: str, size: tuple[int, int] = DEFAULT_SIZE) -> Window | None:
    """A window, or None (one log line) without a display or a GUI-capable OpenCV."""
    if not display_available():
        log.info("no display (DISPLAY/WAYLAND_DISPLAY unset): running headless")
        return None
    try:
        return Window(title, size)
    except Exception as e:  # OpenCV built without GUI, display refused...
        log.warning("cannot open a window (%s); running headless", e)
        return None
