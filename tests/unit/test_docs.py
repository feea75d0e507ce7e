"""The README documents every configuration variable and every topic that exists."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from pydantic import SecretStr

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


def test_the_quick_start_shows_analyse_on_ones_own_recording_right_after_the_demo() -> None:
    after_demo = README.split("## Your own recordings", 1)[1].split("```")[1]
    assert "sightline analyse" in after_demo and "--consent-scopes default" in after_demo
    assert README.index("## Your own recordings") < README.index("## What a profile holds")


def test_every_command_has_help() -> None:
    runner = CliRunner()
    for args in (
        ["--help"],
        ["stack", "--help"],
        ["db", "migrate", "--help"],
        ["query", "--help"],
        ["audit", "bias", "--help"],
        ["topics", "create", "--help"],
        ["schemas", "--help"],
        ["config", "--help"],
        ["analyse", "--help"],
        ["models", "list", "--help"],
    ):
        result = runner.invoke(cli, args)
        assert result.exit_code == 0 and "Usage:" in result.output, args


def test_config_markdown_matches_settings() -> None:
    result = CliRunner().invoke(cli, ["config", "--markdown"])
    assert result.exit_code == 0
    assert result.output.count("| `SIGHTLINE_") == len(iter_env_vars())


def test_settings_env_makes_another_process_read_the_same_settings(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from services.common.settings import Settings, settings_env

    mine = Settings().model_copy(
        update={
            "fusion": Settings().fusion.model_copy(update={"deadline_s": 12.5}),
            "s3": Settings().s3.model_copy(update={"secret_key": SecretStr("s3cr3t"), "work_bucket": "w-1"}),
        }
    )
    code = "from services.common.settings import Settings; print(Settings().model_dump_json())"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SIGHTLINE_")}
    out = subprocess.run(
        [sys.executable, "-c", code], env={**clean, **settings_env(mine)}, capture_output=True, text=True, check=True
    )
    theirs = Settings.model_validate_json(out.stdout)
    assert theirs.fusion.deadline_s == 12.5 and theirs.s3.work_bucket == "w-1"
    assert settings_env(mine)["SIGHTLINE_S3__SECRET_KEY"] == "s3cr3t"
    # Secrets print masked: compare the groups holding them by what the other process was given.
    assert settings_env(mine)["SIGHTLINE_IDENTITY__TOKEN"] == mine.identity.token.get_secret_value()  # type: ignore[union-attr]
    assert theirs.model_dump(exclude={"s3", "identity"}) == mine.model_dump(exclude={"s3", "identity"})
