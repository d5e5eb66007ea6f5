"""Settings read from the environment: the serve timeout is one of them (MDM_WEB_TIMEOUT)."""

from __future__ import annotations

import pytest

from mdm.settings import Settings


def test_web_timeout_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MDM_WEB_TIMEOUT", raising=False)
    assert Settings.from_env().web_timeout == 120
    monkeypatch.setenv("MDM_WEB_TIMEOUT", "900")
    assert Settings.from_env().web_timeout == 900

