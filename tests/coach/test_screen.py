"""The live screen for distance: layout (sizes, no overlaps, letterbox), WCAG contrast, and the
screen rendered from a paced sample at three window sizes (one in a real window under Xvfb)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import SAMPLES
from fakes import ReplayEstimator, sample_track

from formcoach.clock import MonotonicClock
from formcoach.coach.live import run_live
from formcoach.coach.result import CueEvent
from formcoach.coach.screen import (
    COLOURS,
    COUNTER_MIN_FRACTION,
    TEXT_ON_PANEL,
    ScreenState,
    contrast_ratio,
    cue_panel_colour,
    fault_landmarks,
    layout_for,
    render_screen,
)
from formcoach.coach.session import ATTEMPT_RULE_ID, STOP_RULE_ID, FrameUpdate
from formcoach.coach.window import DEFAULT_SIZE
from formcoach.cues.counting import COUNT_RULE_ID
from formcoach.cues.kinds import CUE_KINDS, READY_RULE_ID, CueKind, cue_kind
from formcoach.cues.scheduler import PRAISE_RULE_ID
from formcoach.cues.speech import NullSpeaker
from formcoach.exercises import load_exercise
from formcoach.pose.stream import PosedFrame
from formcoach.skeleton import LM
from formcoach.sources import PacedVideoSource
from formcoach.types import Frame, PoseResult, PoseTrack

#: (window size, camera image size): landscape, a large landscape, portrait camera in a portrait
#: window, portrait camera in a landscape window.
CASES = [((1280, 720), (640, 480)), ((1920, 1080), (1280, 720)), ((720, 1280), (360, 640)),
         ((1024, 768), (360, 640))]


@pytest.mark.parametrize(("window", "image"), CASES)
def test_layout_is_readable_from_the_mat(window: tuple[int, int], image: tuple[int, int]) -> None:
    lay = layout_for(window, image, debug=True)
    W, H = window
    assert lay.counter_text_h >= COUNTER_MIN_FRACTION * H
    boxes = lay.text_boxes()
    for name, box in boxes.items():
        assert box.inside(W, H), name
        assert not box.overlaps(lay.image), name  # text never covers the person
        for other, b2 in boxes.items():
            if other != name:
                assert not box.overlaps(b2), (name, other)
    # letterboxed: the aspect is kept (to a pixel) and the image fills one dimension
    assert abs(lay.image.w / lay.image.h - image[0] / image[1]) < 2 / min(lay.image.w, lay.image.h)
    assert lay.image.inside(W, H)


def test_layout_refuses_tiny_windows() -> None:
    with pytest.raises(ValueError, match="too small"):
        layout_for((100, 80), (640, 480))


def test_text_colours_meet_wcag_aa() -> None:
    assert contrast_ratio((0, 0, 0), (255, 255, 255)) == pytest.approx(21.0)
    for text, panel in TEXT_ON_PANEL:
        assert contrast_ratio(COLOURS[text], COLOURS[panel]) >= 4.5, (text, panel)


def test_fault_segments() -> None:
    knees = fault_landmarks(("knee_width_ratio",))
    assert {LM.LEFT_KNEE, LM.RIGHT_KNEE} <= knees and LM.LEFT_WRIST not in knees
    assert fault_landmarks(("hip_line_dev",)) >= {LM.LEFT_HIP, LM.LEFT_SHOULDER}
    assert fault_landmarks(()) == frozenset()


@pytest.mark.parametrize(("window", "image"), CASES)
def test_counter_and_cue_are_drawn_where_the_layout_says(window: tuple[int, int],
                                                         image: tuple[int, int]) -> None:
    lay = layout_for(window, image)
    img = np.full((image[1], image[0], 3), 128, np.uint8)
    blank = render_screen(lay, img, ScreenState(reps=0))
    shown = render_screen(lay, img, ScreenState(reps=7, target=10, cue="knees out"))
    c, q = lay.count, lay.cue
    diff = np.abs(shown.astype(int) - blank.astype(int)).sum(axis=2)
    assert diff[c.y:c.y + c.h, c.x:c.x + c.w].any()  # the 7 changed the counter box
    assert (shown[q.y:q.y + q.h, q.x:q.x + q.w] == COLOURS["cue_panel"]).all(axis=2).mean() > 0.5
    outside = np.ones(diff.shape, bool)
    for b in lay.text_boxes().values():
        outside[b.y:b.y + b.h, b.x:b.x + b.w] = False
    assert not diff[outside].any()  # nothing drawn outside the text boxes (no overlap)



def test_cue_kind_follows_the_cues_source() -> None:
    assert cue_kind(READY_RULE_ID) == cue_kind(PRAISE_RULE_ID) == "positive"
    for setup in ("setup.step_back", "setup.turn_sideways", "setup.level_camera",
                  "setup.framing_head_cut"):
        assert cue_kind(setup) == "setup", setup
    assert cue_kind(COUNT_RULE_ID) == cue_kind(STOP_RULE_ID) == "info"
    # a pack's rules (any id it may add) and an attempt that did not count are corrections
    assert cue_kind("knee_valgus") == cue_kind(ATTEMPT_RULE_ID) == "fault"


def test_cue_panel_colour_says_what_the_cue_is() -> None:
    colours = {k: cue_panel_colour(k) for k in CUE_KINDS}
    assert colours["fault"] == COLOURS["cue_panel"]
    assert len({colours["fault"], colours["setup"], colours["positive"]}) == 3
    for c in colours.values():
        assert contrast_ratio(COLOURS["text"], c) >= 4.5
    b, g, r = colours["fault"]
    assert r > g and r > b  # red: a fault
    b, g, r = colours["positive"]
    assert g > r and g > b  # green: ready, good rep
    b, g, r = colours["setup"]
    assert b > r  # not red: guidance is no fault


@pytest.mark.parametrize(("rule_id", "kind"), [
    ("knee_valgus", "fault"), (READY_RULE_ID, "positive"), (PRAISE_RULE_ID, "positive"),
    ("setup.step_back", "setup")])
def test_live_display_colours_the_cue_panel_by_its_kind(rule_id: str, kind: CueKind) -> None:
    """The live display's screen for a frame that hands out a cue: its panel in that cue's
    colour ("ready" is not drawn as a fault)."""
    from formcoach.coach.live import _Display

    screens: list[np.ndarray] = []
    display = _Display(load_exercise("squat"), None, None, on_screen=screens.append,
                       screen_size=(1280, 720))
    img = np.full((480, 640, 3), 128, np.uint8)
    nan = np.full((33, 4), np.nan)
    pose = PoseResult(nan, nan[:, :3], 0, (640, 480))
    cue = CueEvent(rule_id, "some words", 1, 0, 0)
    display(FrameUpdate(PosedFrame(Frame(img, 0, 0), pose, 0), None, 0, cue, True, None,
                        True, "side"))
    q = layout_for((1280, 720), (640, 480)).cue
    panel = screens[-1][q.y:q.y + q.h, q.x:q.x + q.w]
    assert np.all(panel == np.array(cue_panel_colour(kind)), axis=2).mean() > 0.5


def _screens(size: tuple[int, int], tmp_path: Path, window: bool = False,
             rotate: bool = False) -> list[np.ndarray]:
    """The screens of a paced sample set, at ``size`` (or in a real window of that size)."""
    name = "squat_front_valgus"
    track = PoseTrack.load(sample_track(name, tmp_path / f"{name}.npz"))
    src = PacedVideoSource(SAMPLES / f"{name}.mp4", clock=MonotonicClock())
    shots: list[np.ndarray] = []
    run_live(src, load_exercise("squat"), ReplayEstimator(track.poses, track.fps,
                                                          track.image_size),
             NullSpeaker(), skip_setup=True, target_reps=5, window=window,
             on_screen=shots.append, screen_size=None if window else size, max_seconds=4.0)
    return shots


@pytest.mark.slow
@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080), (720, 1280)])
def test_paced_sample_screens(size: tuple[int, int], tmp_path: Path) -> None:
    shots = _screens(size, tmp_path)
    assert shots and all(s.shape == (size[1], size[0], 3) for s in shots)
    lay = layout_for(size, (640, 480))
    c = lay.count
    # the counter box holds bright digits on the dark panel in every frame
    assert all((s[c.y:c.y + c.h, c.x:c.x + c.w] > 200).any() for s in shots)


@pytest.fixture
def xvfb() -> Iterator[str]:
    """A virtual X display for a real OpenCV window."""
    if os.environ.get("DISPLAY"):
        yield os.environ["DISPLAY"]
        return
    exe = shutil.which("Xvfb")
    if exe is None:
        pytest.skip("no display and no Xvfb")
    disp = ":97"
    proc = subprocess.Popen([exe, disp, "-screen", "0", "1920x1080x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    os.environ["DISPLAY"] = disp
    try:
        yield disp
    finally:
        del os.environ["DISPLAY"]
        proc.terminate()
        proc.wait(timeout=5)


@pytest.mark.slow
def test_real_window_shows_the_screen_at_its_size(xvfb: str, tmp_path: Path) -> None:
    shots = _screens((1280, 720), tmp_path, window=True)
    assert shots
    h, w = shots[-1].shape[:2]
    assert (w, h) != (640, 480)  # the screen, not the camera frame
    # it fills the window, which opened at DEFAULT_SIZE (16:9): with Qt keeping the ratio of
    # the first image shown, the screen was drawn at 1280 x 365 inside it
    assert abs(w / h - DEFAULT_SIZE[0] / DEFAULT_SIZE[1]) < 0.05, (w, h)
    assert layout_for((w, h), (640, 480)).counter_text_h >= COUNTER_MIN_FRACTION * h
    cv2.destroyAllWindows()
