"""The README documents every configuration variable and every topic that exists."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from services.cli import cli
from services.common.contracts import TOPICS
from services.common.settings import iter_env_vars

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_every_setting_is_documented() -> None:
    missing = [name for name, _, _ in iter_env_vars() if f"`{name}`" not in README]
    assert not missing, f"README lacks: {missing}"


def test_every_setting_has_a_description() -> None:
    assert all(description for _, _, description in iter_env_vars())


def test_every_topic_is_in_the_topic_table() -> None:
    missing = [name for name in TOPICS if f"`{name}`" not in README]
    assert not missing, f"README topic table lacks: {missing}"


def test_readme_starts_with_the_two_commands() -> None:
    first_block = README.split("```")[1]
    assert "make demo" in first_block and "make test" in first_block


def test_every_command_has_help() -> None:
    runner = CliRunner()
    for args in (
        ["--help"],
        ["stack", "--help"],
        ["db", "migrate", "--help"],
        ["query", "--help"],
        ["topics", "create", "--help"],
        ["schemas", "--help"],
        ["config", "--help"],
    ):
        result = runner.invoke(cli, args)
        assert result.exit_code == 0 and "Usage:" in result.output, args


def test_config_markdown_matches_settings() -> None:
    result = CliRunner().invoke(cli, ["config", "--markdown"])
    assert result.exit_code == 0
    assert result.output.count("| `SIGHTLINE_") == len(iter_env_vars())
