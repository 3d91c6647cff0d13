"""The annotated video's layout: sizes scale with the frame, angle numbers never overlap, the
corner panel names faults in words and stays off the person. Checked on boxes, not pixels."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from fake_result import H, W, make_result

from formcoach.overlay import (
    MIN_TEXT_PX,
    TEXT_FRACTION,
    AngleLabel,
    PanelLine,
    Rect,
    VideoStyle,
    choose_panel,
    panel_rect,
    panel_size,
    place_labels,
    text_size,
    wrap_text,
)
from formcoach.report import video as V
from formcoach.rules.explain import explain_fault, fault_name, rules_by_id

#: Frame sizes of the bundled samples and of real clips (portrait phone to 1080p).
SIZES = [(320, 240), (512, 384), (360, 640), (640, 360), (1280, 720), (1920, 1080), (1080, 1920)]


@pytest.fixture(scope="module")
def result():
    return make_result(n_reps=4)


def _disjoint(boxes: list[Rect]) -> bool:
    return not any(a.intersects(b) for a, b in itertools.combinations(boxes, 2))


@pytest.mark.parametrize("size", SIZES)
def test_text_height_scales_with_the_frame(size):
    w, h = size
    st = VideoStyle.for_frame(w, h)
    want = max(MIN_TEXT_PX, TEXT_FRACTION * min(w, h))
    assert st.text_px == pytest.approx(want, abs=1)
    cap = text_size("REPS", st.text_px)[1]  # as drawn, not just as asked for
    assert cap == pytest.approx(st.text_px, rel=0.15)
    assert MIN_TEXT_PX - 2 <= st.label_px <= st.text_px
    assert st.margin >= 6 and st.bone_px >= 2


def test_sizes_grow_with_the_frame():
    small, big = VideoStyle.for_frame(512, 384), VideoStyle.for_frame(1920, 1080)
    assert big.text_px / small.text_px == pytest.approx(1080 / 384, rel=0.1)
    assert big.bone_px > small.bone_px and big.margin > small.margin


def test_wrap_keeps_lines_inside_the_width():
    text = "hip above shoulder-ankle line -0.11 x shoulder-ankle length in the rep"
    for px, width in ((15, 200), (40, 700)):
        lines = wrap_text(text, px, width)
        assert len(lines) > 1 and " ".join(lines) == text
        assert all(text_size(x, px)[0] <= width for x in lines)


@pytest.mark.parametrize("size", [(512, 384), (1920, 1080)])
def test_labels_at_one_spot_never_overlap(size):
    """Many numbers at (nearly) the same joint: each gets its own box or is left out."""
    st = VideoStyle.for_frame(*size)
    w, h = size
    rng = np.random.default_rng(0)
    panel = Rect(0, 0, w // 3, h // 4)
    for _ in range(30):
        c = rng.uniform(0.45, 0.9, 2) * (w, h)  # clear of the panel: room for one at least
        labels = [AngleLabel(f"{rng.integers(0, 180)}", tuple(c + rng.normal(0, 3, 2)),
                             (1.0, 0.0)) for _ in range(5)]
        placed = place_labels(labels, st, size, avoid=[panel])
        boxes = [p.box for p in placed]
        assert placed and _disjoint(boxes)
        assert all(b.inside(w, h) and not b.intersects(panel) for b in boxes)


def test_a_label_sits_beside_its_own_joint():
    st = VideoStyle.for_frame(512, 384)
    lab = AngleLabel("112", (200.0, 200.0), (-1.0, 0.0))
    (p,) = place_labels([lab], st, (512, 384))
    assert p.box.x1 <= 200 and p.box.y0 < 200 < p.box.y1  # to the left, level with the joint
    assert not p.box.contains(200, 200)


def test_side_view_shows_one_number_per_joint(result):
    """The fake squatter is filmed from the side: left and right hip/knee coincide; the video
    shows the judged side's number only, and no two label boxes meet, on every frame."""
    scene = V._scene(result, (W, H))
    for i in range(0, len(result.poses), 7):
        pose = result.poses[i]
        values = {n: float(result.features[n][i]) for n in scene.names}
        labels = V._angle_labels(pose, values, "left", scene.style)
        joints = [lab.vertex for lab in labels]
        assert len(joints) == len({(round(x), round(y)) for x, y in joints})
        assert {lab.text for lab in labels} <= {f"{values[n]:.0f}" for n in scene.names
                                                 if n.startswith("left_")}
        placed = place_labels(labels, scene.style, (W, H))
        assert _disjoint([p.box for p in placed])


def test_fault_is_named_in_words_with_value_and_limit(result):
    f = result.faults[0]
    rule = rules_by_id(result.exercise)[f.rule_id]
    scene = V._scene(result, (W, H))
    t = result.rel_s(f.t_ns)
    lines = V._panel_lines(result, scene, f.frame_index, t, V._faults_on_screen(result, t))
    text = " ".join(x.text for x in lines)
    assert fault_name(f.rule_id) == "Depth" and "Depth" in [x.text for x in lines]
    assert " ".join(explain_fault(f, rule).split()) in text.replace(" limit", ", limit")
    assert "fault:" not in text and "depth:" not in text
    assert lines[0].text.startswith("Reps 3 of 4")
    # No fault shown away from it.
    assert not V._faults_on_screen(result, t + V.CUE_SHOW_S)


def test_fault_names_read_as_words():
    assert fault_name("partial_rom") == "Partial ROM"
    assert fault_name("knee_valgus") == "Knee valgus" and fault_name(None) == "Fault"


def _panel(lines_n: int, st: VideoStyle):
    lines = [PanelLine("Reps 3 of 10 - bottom")] * lines_n

    def at(max_w: int) -> tuple[int, int]:
        return min(max_w, panel_size(lines, st)[0]), panel_size(lines, st)[1]
    return at


@pytest.mark.parametrize(("size", "body", "corner"), [
    ((512, 384), Rect(100, 80, 250, 384), "top-right"),  # room beside: the wider side
    ((512, 384), Rect(100, 130, 512, 384), "top-left"),  # too narrow beside: above
    ((360, 640), Rect(60, 300, 300, 640), "top-left"),  # portrait: above the person
    ((1920, 1080), Rect(0, 0, 1920, 700), "bottom-left"),  # only room below
])
def test_panel_stays_off_the_person(size, body, corner):
    st = VideoStyle.for_frame(*size)
    min_w = text_size("Reps 10 of 10 - bottom", st.text_px)[0] + 2 * st.pad
    at = _panel(4, st)
    got, max_w = choose_panel(body, size, at, min_w, st)
    box = panel_rect(got, size, at(max_w), st)
    assert got == corner
    assert box.inside(*size) and not box.intersects(body)


def test_panel_with_no_room_covers_the_least(result):
    st = VideoStyle.for_frame(512, 384)
    corner, max_w = choose_panel(Rect(0, 0, 512, 384), (512, 384), _panel(3, st), 100, st)
    assert panel_rect(corner, (512, 384), _panel(3, st)(max_w), st).inside(512, 384)
