from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the developer's settings."""
    for name in list(os.environ):
        if name.startswith(("GRAPHQL_API_", "PINTEREST_")):
            monkeypatch.delenv(name)
