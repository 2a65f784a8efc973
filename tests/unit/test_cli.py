"""The `roost` command itself: doctor, presets, advise tables, endpoint export toggle."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from app.cli import main


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ROOST_HOME", str(tmp_path))
    return tmp_path


def test_doctor_json_is_a_loadable_profile(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--json"]) == 0
    profile = json.loads(capsys.readouterr().out)
    assert profile["cpu"]["logical_cores"] >= 1
    saved = home / "me.json"
    saved.write_text(json.dumps(profile))
    assert main(["advise", "gemma-3-270m", "--hardware", str(saved), "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["verdict"] in ("cpu_only", "full_gpu", "hybrid")


def test_advise_table_on_a_preset(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["advise", "--hardware", "rtx3060-12gb"]) == 0
    out = capsys.readouterr().out
    assert "qwen3.6-35b-a3b" in out
    assert "Recommended:" in out


def test_unknown_preset_and_model_are_clear_errors(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["advise", "--hardware", "rtx9999"]) == 1
    assert "rtx3060-12gb" in capsys.readouterr().err
    assert main(["advise", "qwen3.6-27", "--hardware", "rtx4090"]) == 1
    assert "Did you mean" in capsys.readouterr().err


def test_endpoint_export_toggle(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["endpoint", "export", "status"]) == 0
    assert "export: off" in capsys.readouterr().out
    assert main(["endpoint", "export", "on"]) == 0
    out = capsys.readouterr().out
    assert "export: on" in out
    key_file = home / "config" / "api_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text().strip()
    assert key in out
    settings = json.loads((home / "config" / "settings.json").read_text())
    assert settings["export_enabled"] is True
    assert main(["endpoint", "config", "--model", "qwen3.6-27b"]) == 0
    snippets = capsys.readouterr().out
    for tool in ("Codex CLI", "Claude Code", "Continue", "Aider", "opencode"):
        assert tool in snippets
    assert key in snippets
    assert main(["endpoint", "rotate-key"]) == 0
    assert key_file.read_text().strip() != key
    assert main(["endpoint", "export", "off"]) == 0
    assert json.loads((home / "config" / "settings.json").read_text())["export_enabled"] is False


def test_broken_settings_file_is_a_clear_error(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (home / "config").mkdir()
    (home / "config" / "settings.json").write_text("{broken")
    assert main(["endpoint", "export", "status"]) == 1
    assert "cannot be read" in capsys.readouterr().err
