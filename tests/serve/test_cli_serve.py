"""`mmshop serve` without trained models names the command that makes them; bad settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from mmshop.cli import app
from mmshop.errors import ConfigError
from mmshop.serve.settings import ServeSettings


def test_serve_with_nothing_trained_says_which_command_makes_it(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["serve", "--port", "8123"])
    assert result.exit_code == 2
    out = " ".join(result.output.split())
    assert "no search index at models/index" in out
    assert "make demo" in out and "mmshop align" in out and "mmshop index" in out
    assert "Traceback" not in result.output


def test_serve_help_lists_its_options() -> None:
    result = CliRunner().invoke(app, ["serve", "--help"])
    assert result.exit_code == 0
    for option in ("--model", "--index", "--catalog", "--host", "--port", "--api-key"):
        assert option in result.output


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"port": 0}, "port"),
        ({"api_key": "short"}, "api_key"),
        ({"max_k": 5000}, "max_k"),
        ({"max_image_pixels": 10**9}, "max_image_pixels"),
        ({"request_timeout_s": 0}, "request_timeout_s"),
        ({"db_synchronous": "off"}, "db_synchronous"),
        ({"max_review_chars": 0}, "max_review_chars"),
        ({"max_titles_per_request": 0}, "max_titles_per_request"),
        ({"fit_panel_when": {"masterCategory": "Apparel"}}, "fit_panel_when"),
    ],
)
def test_bad_settings_name_the_field(overrides: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        ServeSettings().replace(overrides)


def test_api_key_comes_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("MMSHOP_API_KEY", "from-the-env-123")
    assert ServeSettings().with_env().api_key == "from-the-env-123"
    assert ServeSettings(api_key="given-key-456").with_env().api_key == "given-key-456"
