"""The MediaPipe backend's telemetry guard (dead proxy variables) keeps loopback direct, so a
local HTTP client in the same process still reaches 127.0.0.1 (``formcoach serve``, tests)."""

from __future__ import annotations

import urllib.request

import pytest

from formcoach.pose import mediapipe_tasks as mt


def test_the_dead_proxy_blocks_the_internet_but_not_loopback(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for v in (*mt._PROXY_VARS, "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(v, raising=False)
    monkeypatch.setenv("NO_PROXY", "example.org")  # a user's bypass must not survive
    mt._contain_native_telemetry()
    proxies = urllib.request.getproxies_environment()
    assert proxies["https"] == mt._DEAD_PROXY and proxies["http"] == mt._DEAD_PROXY
    for host in ("127.0.0.1", "localhost", "::1"):
        assert urllib.request.proxy_bypass(host)
    for host in ("example.org", "play.googleapis.com"):
        assert not urllib.request.proxy_bypass(host)
