"""pytest plugin for tests/test_goldens.py: the ``--update-goldens`` flag."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-goldens",
        action="store_true",
        default=False,
        help="rewrite tests/goldens/*.json from a fresh `formcoach analyze` run",
    )
