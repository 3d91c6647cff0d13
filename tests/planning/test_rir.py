"""The personal VL -> RIR profile (:mod:`formcoach.rir`)."""

from __future__ import annotations

import math

import pytest

from formcoach import rir as R


def _pts(pairs):
    return [R.RirPoint(i + 1, vl, rir) for i, (vl, rir) in enumerate(pairs)]


def test_final_vl_is_the_mean_of_the_last_two_measured_reps():
    assert R.final_vl([0.0, 10.0, 20.0, 30.0]) == pytest.approx(25.0)
    assert R.final_vl([0.0, float("nan"), 12.0]) == pytest.approx(6.0)
    assert R.final_vl([7.0]) == 7.0 and math.isnan(R.final_vl([float("nan")]))


def test_a_profile_recovers_a_known_line_with_an_honest_interval():
    # RIR = 8 - 0.2 VL with +-0.5 rep marks
    pts = _pts([(10, 6.5), (20, 3.5), (30, 2.5), (40, 0.0), (25, 3.0)])
    pts = [R.RirPoint(p.set_id, p.vl_pct, round(p.rir)) for p in pts]
    prof, why = R.fit_profile(pts)
    assert prof is not None and why == ""
    assert prof.slope == pytest.approx(-0.2, abs=0.06) and prof.n == 5
    est = prof.estimate(35.0)
    assert est is not None and not est.extrapolated
    assert est.low <= 8 - 0.2 * 35 <= est.high
    assert est.high - est.low > 2 * R.MARK_SD_REPS  # never tighter than the marks allow
    assert prof.estimate(60.0).extrapolated  # type: ignore[union-attr]
    assert prof.estimate(float("nan")) is None
    assert "5 marked sets" in prof.text and est.text.startswith("reps in reserve: about")


def test_three_exact_marks_still_carry_the_self_report_error():
    prof, _ = R.fit_profile(_pts([(10, 6), (20, 4), (30, 2)]))
    assert prof is not None and prof.residual_sd == R.MARK_SD_REPS
    est = prof.estimate(20.0)
    assert est is not None and est.rir == pytest.approx(4.0) and est.high - est.low > 4


@pytest.mark.parametrize(("pairs", "needle"), [
    ([(10, 5), (30, 1)], "2 of the 3 needed sets"),
    ([(20, 3), (21, 2), (23, 1)], "within 3 points"),
    ([(10, 1), (20, 3), (30, 5)], "does not fall"),
    ([(10, 1), (float("nan"), 3), (30, 0)], "2 of the 3 needed sets"),
])
def test_too_little_history_says_so_instead_of_guessing(pairs, needle):
    prof, why = R.fit_profile(_pts(pairs))
    assert prof is None and needle in why and why.startswith("reps in reserve: not estimated")
