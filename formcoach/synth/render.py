"""Draw the synthetic athlete: a shaded, clothed mannequin over a plain floor and wall.

Limbs are tapered capsules (skin, sleeves, shorts, shoes), the torso a shirt-coloured polygon
plus a capsule for depth, the head has hair, eyes, nose, mouth and ears. Parts are painted far to
near (painter's algorithm on camera depth); far parts are darker, so near and far limbs differ.
Everything is deterministic: no randomness here, the palette comes from the caller's seed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from formcoach.skeleton import LM
from formcoach.synth.body import BodyState, Proportions, head_centre
from formcoach.synth.camera import Camera

__all__ = ["Palette", "draw_background", "palette_for_seed", "render_frame"]

_SHIFT = 4
_ONE = 1 << _SHIFT

# BGR colours.
_SKINS = ((141, 180, 224), (105, 150, 205), (80, 115, 170), (170, 200, 235), (60, 90, 140))
_SHIRTS = ((170, 80, 40), (60, 60, 190), (60, 140, 60), (40, 40, 40), (150, 60, 140),
           (30, 130, 210))
_SHORTS = ((50, 40, 30), (90, 90, 90), (120, 60, 20), (30, 30, 30), (40, 70, 120))
_HAIR = ((20, 25, 35), (30, 50, 90), (40, 40, 40), (60, 110, 160))
_WALLS = ((205, 210, 214), (190, 205, 215), (215, 205, 195), (200, 215, 205))
_FLOORS = ((120, 140, 160), (105, 110, 115), (90, 120, 140), (140, 150, 150))


@dataclass(frozen=True, slots=True)
class Palette:
    """Colours of one sample (BGR tuples)."""

    skin: tuple[int, int, int]
    shirt: tuple[int, int, int]
    shorts: tuple[int, int, int]
    hair: tuple[int, int, int]
    shoe: tuple[int, int, int]
    wall: tuple[int, int, int]
    floor: tuple[int, int, int]

    def as_dict(self) -> dict[str, Any]:
        return {k: list(v) for k, v in dataclasses.asdict(self).items()}


def palette_for_seed(seed: int) -> Palette:
    """A deterministic palette for ``seed``."""
    r = np.random.default_rng([seed, 7919])

    def pick(opts: tuple[tuple[int, int, int], ...]) -> tuple[int, int, int]:
        return opts[int(r.integers(len(opts)))]

    return Palette(pick(_SKINS), pick(_SHIRTS), pick(_SHORTS), pick(_HAIR), (235, 235, 235)
                   if r.random() < 0.5 else (45, 45, 50), pick(_WALLS), pick(_FLOORS))


def _cv2() -> Any:
    import cv2

    return cv2


def draw_background(cam: Camera, pal: Palette) -> np.ndarray:
    """Wall and floor with mild vertical gradients, ``(H, W, 3)`` uint8 BGR."""
    h, w = cam.height, cam.width
    # The wall stands 2.5 m behind the look-at point, facing the camera.
    fwd = np.asarray(cam.target) - cam.position
    fwd[1] = 0.0
    fwd /= np.linalg.norm(fwd)
    base = np.asarray(cam.target) + 2.5 * fwd
    base[1] = 0.0
    v_line = float(cam.project(base)[1])
    rows = np.arange(h, dtype=np.float64)[:, None]
    wall = np.asarray(pal.wall, dtype=np.float64)
    floor = np.asarray(pal.floor, dtype=np.float64)
    wall_k = 0.92 + 0.1 * rows / h
    floor_k = 0.85 + 0.2 * np.clip((rows - v_line) / max(h - v_line, 1.0), 0.0, 1.0)
    is_floor = (rows >= v_line)[..., None]
    col = np.where(is_floor, floor[None, :] * floor_k[..., None], wall[None, :] * wall_k[..., None])
    img = np.broadcast_to(col, (h, w, 3))
    out = np.clip(img, 0, 255).astype(np.uint8)
    # Skirting line where the wall meets the floor.
    if 0 <= v_line < h:
        y = round(v_line)
        out[max(y - 2, 0): y + 1] = (np.asarray(pal.wall) * 0.7).astype(np.uint8)
    return np.ascontiguousarray(out)


def _shade(color: tuple[int, int, int], k: float) -> tuple[int, int, int]:
    return tuple(int(min(255, max(0, round(c * k)))) for c in color)  # type: ignore[return-value]


def _pt(p: np.ndarray) -> tuple[int, int]:
    return round(float(p[0]) * _ONE), round(float(p[1]) * _ONE)


def _capsule(img: np.ndarray, a: np.ndarray, b: np.ndarray, ra: float, rb: float,
             color: tuple[int, int, int]) -> None:
    """Filled tapered capsule between pixel points ``a``, ``b`` with radii ``ra``, ``rb`` px."""
    cv2 = _cv2()
    d = b - a
    n = float(np.hypot(d[0], d[1]))
    ra, rb = max(ra, 0.8), max(rb, 0.8)
    cv2.circle(img, _pt(a), round(ra * _ONE), color, -1, cv2.LINE_AA, _SHIFT)
    cv2.circle(img, _pt(b), round(rb * _ONE), color, -1, cv2.LINE_AA, _SHIFT)
    if n < 1e-6:
        return
    perp = np.array([-d[1], d[0]]) / n
    quad = np.array([_pt(a + perp * ra), _pt(b + perp * rb), _pt(b - perp * rb),
                     _pt(a - perp * ra)], dtype=np.int32)
    cv2.fillConvexPoly(img, quad, color, cv2.LINE_AA, _SHIFT)


def _shaded_capsule(img: np.ndarray, a: np.ndarray, b: np.ndarray, ra: float, rb: float,
                    color: tuple[int, int, int], k: float) -> None:
    """Outline, body colour and a highlight stripe toward the upper-left light."""
    _capsule(img, a, b, ra + 1.2, rb + 1.2, _shade(color, 0.45 * k))
    _capsule(img, a, b, ra, rb, _shade(color, 0.85 * k))
    off = np.array([-0.3 * ra, -0.3 * ra])
    _capsule(img, a + off, b + off * (rb / max(ra, 1e-6)), 0.45 * ra, 0.45 * rb,
             _shade(color, 1.08 * k))


#: A bumper plate: radius 0.225 m (45 cm across), standing on its rim.
PLATE_RADIUS_M = 0.225


def plate_centre(j3: np.ndarray, cam: Camera) -> np.ndarray:
    """Where a plate stands to hide the shins: ``(3,)`` m, 0.4 m in front of the mean ankle
    position towards the camera, on the floor. ``j3``: ``(T, 33, 3)`` world metres."""
    ankles = 0.5 * (j3[:, LM.LEFT_ANKLE] + j3[:, LM.RIGHT_ANKLE]).mean(axis=0)
    to_cam = cam.position - ankles
    to_cam[1] = 0.0
    to_cam /= max(float(np.linalg.norm(to_cam)), 1e-9)
    c = ankles + 0.4 * to_cam
    c[1] = PLATE_RADIUS_M
    return c


def draw_plate(img: np.ndarray, centre: np.ndarray, cam: Camera) -> None:
    """Draw a black bumper plate (facing the camera) at ``centre`` (m) over ``img`` in place."""
    cv2 = _cv2()
    u, v, z = cam.project(centre)
    r = cam.fx * PLATE_RADIUS_M / z
    c = _pt(np.array([u, v]))
    cv2.circle(img, c, round(r * _ONE), (28, 28, 30), -1, cv2.LINE_AA, _SHIFT)
    cv2.circle(img, c, round(r * 0.93 * _ONE), (45, 45, 48), max(1, round(r * 0.03)), cv2.LINE_AA,
               _SHIFT)
    cv2.circle(img, c, round(r * 0.22 * _ONE), (150, 150, 155), -1, cv2.LINE_AA, _SHIFT)
    cv2.circle(img, c, round(r * 0.1 * _ONE), (40, 40, 40), -1, cv2.LINE_AA, _SHIFT)


def render_frame(state: BodyState, j3: np.ndarray, props: Proportions, cam: Camera,
                 pal: Palette, background: np.ndarray, plate: np.ndarray | None = None
                 ) -> np.ndarray:
    """Draw one frame.

    Args:
        state: the body state (head orientation is needed for the face).
        j3: ``(33, 3)`` world landmarks, m (from :func:`~formcoach.synth.body.joints_3d`).
        props: body proportions (limb thickness).
        cam: the camera.
        pal: colours.
        background: ``(H, W, 3)`` uint8 BGR from :func:`draw_background` (not modified).
        plate: ``(3,)`` m, the centre of a plate drawn in front of everything, or None.

    Returns:
        ``(H, W, 3)`` uint8 BGR image.
    """
    cv2 = _cv2()
    img = background.copy()
    g = props.girth * props.height_m / 1.75
    hc = head_centre(state, props)
    pts3 = np.vstack([j3, hc[None, :], (0.5 * (j3[LM.LEFT_SHOULDER] + j3[LM.RIGHT_SHOULDER]))[None],
                      (0.5 * (j3[LM.LEFT_HIP] + j3[LM.RIGHT_HIP]))[None]])
    proj = cam.project(pts3)
    uv = proj[:, :2]
    depth = proj[:, 2]
    HEAD, SHC, HIPC = 33, 34, 35
    f = cam.fx
    z_ref = depth[HIPC]

    def px(i: int, r_m: float) -> float:
        return f * r_m * g / depth[i]

    def k_of(z: float) -> float:
        return float(1.0 - 0.28 * np.clip((z - z_ref) / 0.25, -1.0, 1.0)) * 0.95 + 0.05

    # Floor shadow: a blurred blob under the body.
    floor_pts = j3.copy()
    floor_pts[:, 1] = 0.0
    fuv = cam.project(floor_pts)[:, :2]
    if np.all(np.isfinite(fuv)):
        mask = np.zeros(img.shape[:2], np.uint8)
        hull = cv2.convexHull(np.round(fuv * _ONE).astype(np.int32))
        cv2.fillConvexPoly(mask, hull, 255, cv2.LINE_AA, _SHIFT)
        mask = cv2.GaussianBlur(mask, (0, 0), 6.0)
        img = (img.astype(np.float32) * (1.0 - 0.25 * mask[..., None] / 255.0)).astype(np.uint8)

    groups: list[tuple[float, Any]] = []

    def add(z: float, fn: Any) -> None:
        groups.append((z, fn))

    for side in ("LEFT", "RIGHT"):
        sh, el, wr = LM[f"{side}_SHOULDER"], LM[f"{side}_ELBOW"], LM[f"{side}_WRIST"]
        hp, kn, an = LM[f"{side}_HIP"], LM[f"{side}_KNEE"], LM[f"{side}_ANKLE"]
        he, ft = LM[f"{side}_HEEL"], LM[f"{side}_FOOT_INDEX"]
        ix, pk, th = LM[f"{side}_INDEX"], LM[f"{side}_PINKY"], LM[f"{side}_THUMB"]

        def leg(hp: int = hp, kn: int = kn, an: int = an, he: int = he, ft: int = ft) -> None:
            k = k_of(depth[kn])
            _shaded_capsule(img, uv[kn], uv[an], px(kn, 0.05), px(an, 0.034), pal.skin, k)
            _shaded_capsule(img, uv[hp], uv[kn], px(hp, 0.078), px(kn, 0.052), pal.skin, k)
            mid = uv[hp] + 0.42 * (uv[kn] - uv[hp])
            _shaded_capsule(img, uv[hp], mid, px(hp, 0.088), px(kn, 0.07), pal.shorts, k)
            _shaded_capsule(img, uv[he], uv[ft], px(he, 0.038), px(ft, 0.03), pal.shoe, k)
            _shaded_capsule(img, uv[an], uv[he], px(an, 0.04), px(he, 0.038), pal.shoe, k)

        def arm(sh: int = sh, el: int = el, wr: int = wr, ix: int = ix, pk: int = pk,
                th: int = th) -> None:
            k = k_of(depth[el])
            _shaded_capsule(img, uv[sh], uv[el], px(sh, 0.047), px(el, 0.038), pal.skin, k)
            _shaded_capsule(img, uv[el], uv[wr], px(el, 0.037), px(wr, 0.027), pal.skin, k)
            mid = uv[sh] + 0.45 * (uv[el] - uv[sh])
            _shaded_capsule(img, uv[sh], mid, px(sh, 0.058), px(el, 0.05), pal.shirt, k)
            tip = 0.5 * (uv[ix] + uv[pk])
            _shaded_capsule(img, uv[wr], tip, px(wr, 0.03), px(ix, 0.026), pal.skin, k)
            _capsule(img, uv[wr], uv[th], px(wr, 0.014), px(th, 0.011), _shade(pal.skin, 0.8 * k))

        add(float(np.mean(depth[[hp, kn, an]])), leg)
        add(float(np.mean(depth[[sh, el, wr]])), arm)

    def torso() -> None:
        k = k_of(depth[SHC])
        quad = np.array([uv[LM.LEFT_SHOULDER], uv[LM.RIGHT_SHOULDER], uv[LM.RIGHT_HIP],
                         uv[LM.LEFT_HIP]])
        r_side = px(SHC, 0.045)
        hull = cv2.convexHull(np.round(quad * _ONE).astype(np.int32))
        _shaded_capsule(img, uv[HIPC], uv[SHC], px(HIPC, 0.12), px(SHC, 0.13), pal.shirt, k)
        cv2.fillConvexPoly(img, hull, _shade(pal.shirt, 0.85 * k), cv2.LINE_AA, _SHIFT)
        for a, b in ((LM.LEFT_SHOULDER, LM.LEFT_HIP), (LM.RIGHT_SHOULDER, LM.RIGHT_HIP),
                     (LM.LEFT_SHOULDER, LM.RIGHT_SHOULDER)):
            _capsule(img, uv[a], uv[b], r_side, r_side, _shade(pal.shirt, 0.85 * k))
        # Shorts over the pelvis.
        _shaded_capsule(img, uv[LM.LEFT_HIP], uv[LM.RIGHT_HIP], px(HIPC, 0.1), px(HIPC, 0.1),
                        pal.shorts, k)
        low = uv[HIPC] + 0.22 * (uv[SHC] - uv[HIPC])
        _capsule(img, uv[HIPC], low, px(HIPC, 0.115), px(HIPC, 0.115), _shade(pal.shorts, 0.85 * k))
        # Neck.
        neck_top = uv[SHC] + 0.6 * (uv[HEAD] - uv[SHC])
        _shaded_capsule(img, uv[SHC], neck_top, px(SHC, 0.05), px(HEAD, 0.045), pal.skin, k)

    def head() -> None:
        hf = state.head
        r = px(HEAD, props.head_radius / g)
        k = k_of(depth[HEAD])
        cam_pos = cam.position
        # Hair: a disc shifted back and up, then the face disc forward and down.
        hair_c = cam.project(hc - 0.28 * props.head_radius * hf[:, 2]
                             + 0.12 * props.head_radius * hf[:, 1])[:2]
        face_c = cam.project(hc + 0.12 * props.head_radius * hf[:, 2]
                             - 0.08 * props.head_radius * hf[:, 1])[:2]
        cv2.circle(img, _pt(hair_c), round(r * 1.02 * _ONE), _shade(pal.hair, 1.0), -1,
                   cv2.LINE_AA, _SHIFT)
        cv2.circle(img, _pt(face_c), round(r * 0.9 * _ONE), _shade(pal.skin, 0.88 * k), -1,
                   cv2.LINE_AA, _SHIFT)
        cv2.circle(img, _pt(face_c - 0.25 * r), round(r * 0.45 * _ONE), _shade(pal.skin, 0.98 * k),
                   -1, cv2.LINE_AA, _SHIFT)

        def facing(i: int, normal: np.ndarray) -> bool:
            return float(normal @ (cam_pos - j3[i])) > 0.0

        for ear, sgn in ((LM.LEFT_EAR, 1.0), (LM.RIGHT_EAR, -1.0)):
            if facing(ear, sgn * hf[:, 0]):
                cv2.circle(img, _pt(uv[ear]), round(r * 0.2 * _ONE), _shade(pal.skin, 0.75 * k), -1,
                           cv2.LINE_AA, _SHIFT)
        for eye, sgn in ((LM.LEFT_EYE, 1.0), (LM.RIGHT_EYE, -1.0)):
            n = hf[:, 2] + 0.45 * sgn * hf[:, 0]
            if facing(eye, n):
                cv2.circle(img, _pt(uv[eye]), round(r * 0.15 * _ONE), (245, 245, 245), -1,
                           cv2.LINE_AA, _SHIFT)
                cv2.circle(img, _pt(uv[eye]), round(r * 0.09 * _ONE), (40, 30, 20), -1,
                           cv2.LINE_AA, _SHIFT)
                brow = uv[eye] - np.array([0.0, 0.22 * r])
                _capsule(img, brow - np.array([0.12 * r, 0.0]), brow + np.array([0.12 * r, 0.0]),
                         0.04 * r, 0.04 * r, pal.hair)
        if facing(LM.NOSE, hf[:, 2]):
            cv2.circle(img, _pt(uv[LM.NOSE]), round(r * 0.11 * _ONE), _shade(pal.skin, 0.7 * k),
                       -1, cv2.LINE_AA, _SHIFT)
        ml, mr = uv[LM.MOUTH_LEFT], uv[LM.MOUTH_RIGHT]
        if facing(LM.MOUTH_LEFT, hf[:, 2] + 0.5 * hf[:, 0]) or facing(
                LM.MOUTH_RIGHT, hf[:, 2] - 0.5 * hf[:, 0]):
            _capsule(img, ml, mr, 0.05 * r, 0.05 * r, (60, 50, 150))

    add(float(np.mean(depth[[LM.LEFT_SHOULDER, LM.RIGHT_SHOULDER, LM.LEFT_HIP, LM.RIGHT_HIP]])),
        torso)
    add(float(depth[HEAD]), head)
    for _, fn in sorted(groups, key=lambda g: -g[0]):
        fn()
    if plate is not None:
        draw_plate(img, plate, cam)
    return img
