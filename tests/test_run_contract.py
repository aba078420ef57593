"""`python run_bot.py`: bad configuration stops at start-up with one line naming the setting."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import PROJECT_ROOT, ConfigError, Settings, load_settings
from tests.fakes import FakeBotAPI

RUN_BOT = str(PROJECT_ROOT / "run_bot.py")


def run_bot(
    *args: str, env: dict[str, str], cwd: Path, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TELEGRAM_", "DATABASE_", "PETITION_", "ADMIN_"))
    }
    return subprocess.run(
        [sys.executable, RUN_BOT, *args],
        env={**clean, **env},
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("env", "args", "setting"),
    [
        ({}, (), "TELEGRAM_BOT_TOKEN"),
        ({"TELEGRAM_BOT_TOKEN": "not-a-token"}, (), "TELEGRAM_BOT_TOKEN"),
        ({"TELEGRAM_BOT_TOKEN": "1:x", "PETITION_FILE": "/nope.toml"}, (), "PETITION_FILE"),
        ({"TELEGRAM_BOT_TOKEN": "1:x"}, ("--petition", "/nope.toml"), "PETITION_FILE"),
        ({"TELEGRAM_BOT_TOKEN": "1:x", "DATABASE_URL": "mysql://x/y"}, (), "DATABASE_URL"),
        ({"TELEGRAM_BOT_TOKEN": "1:x", "ADMIN_IDS": "12,abc"}, (), "ADMIN_IDS"),
        ({"TELEGRAM_BOT_TOKEN": "1:x", "TELEGRAM_API_URL": "ftp://x"}, (), "TELEGRAM_API_URL"),
    ],
)
def test_bad_configuration_exits_2_with_one_line(
    tmp_path: Path, env: dict[str, str], args: tuple[str, ...], setting: str
) -> None:
    result = run_bot(*args, env=env, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and setting in lines[0], result.stderr


def test_invalid_toml_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("id = [", encoding="utf-8")
    result = run_bot("--petition", str(bad), env={"TELEGRAM_BOT_TOKEN": "1:x"}, cwd=tmp_path)
    assert result.returncode == 2
    assert "not valid TOML" in result.stderr


def test_sandbox_needs_no_token_and_uses_its_own_database(tmp_path: Path) -> None:
    result = run_bot("--sandbox", env={}, cwd=tmp_path, stdin="2\n/quit\n")
    assert result.returncode == 0, result.stderr
    assert "Where do you live?" in result.stdout
    assert (tmp_path / "sandbox.db").exists()
    assert not (tmp_path / "petition.db").exists()


def test_a_folder_of_petitions_offers_a_chooser(tmp_path: Path) -> None:
    folder = str(PROJECT_ROOT / "petitions")
    result = run_bot("--sandbox", "--petition", folder, env={}, cwd=tmp_path, stdin="1\n/quit\n")
    assert result.returncode == 0, result.stderr
    assert "Which petition would you like to read?" in result.stdout
    assert "Five Eyes" in result.stdout and "G7" in result.stdout
    assert "Read the demands" in result.stdout  # the first button opened its petition


def test_a_bad_file_in_a_folder_or_a_list_is_named(tmp_path: Path) -> None:
    shipped = PROJECT_ROOT / "petitions" / "five_eyes.toml"
    (tmp_path / "a.toml").write_text(shipped.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "b.toml").write_text('id = "Not Valid"', encoding="utf-8")
    env = {"TELEGRAM_BOT_TOKEN": "1:x"}
    result = run_bot("--petition", str(tmp_path), env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "b.toml" in result.stderr and "start=<id>" in result.stderr
    listed = run_bot("--petition", f"{shipped},{shipped}", env=env, cwd=tmp_path)
    assert listed.returncode == 2 and "both use id" in listed.stderr


def test_the_deprecated_rate_setting_still_works_with_a_one_line_warning(tmp_path: Path) -> None:
    result = run_bot("--sandbox", env={"API_RATE_LIMIT": "30"}, cwd=tmp_path, stdin="/quit\n")
    assert result.returncode == 0, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: API_RATE_LIMIT is deprecated")


def test_settings_parse_admin_ids_and_read_dotenv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("ADMIN_IDS=1, 2,3\nTELEGRAM_BOT_TOKEN=9:abc\n", encoding="utf-8")
    monkeypatch.delenv("ADMIN_IDS", raising=False)
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    settings = load_settings()
    assert settings.admin_ids == frozenset({1, 2, 3})
    assert settings.token_or_raise() == "9:abc"
    with pytest.raises(ConfigError, match=r"^ADMIN_IDS"):
        load_settings(admin_ids="1;2")


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
async def test_run_bot_serves_supporters_and_stops_cleanly_on_sigterm(
    tmp_path: Path, level: str
) -> None:
    """The real entry point, as a process, against the fake Bot API: answer, then shut down.
    Its whole output, at any level, names no supporter and holds no token."""
    async with FakeBotAPI() as server:
        clean = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("TELEGRAM_", "DATABASE_", "PETITION_", "ADMIN_"))
        }
        env = {
            **clean,
            "TELEGRAM_BOT_TOKEN": server.token,
            "TELEGRAM_API_URL": server.url,
            "DATABASE_URL": f"sqlite:///{tmp_path}/bot.db",
            "POLLING_TIMEOUT": "5",
            "LOG_LEVEL": level,
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            RUN_BOT,
            env=env,
            cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            await server.wait_until(lambda: bool(server.calls_for("getUpdates")), timeout=30)
            alice = server.user(4242777, "Zelda Quux")
            await alice.send("/start", timeout=15)
            assert "Sign the petition" in " ".join(alice.button_texts)
            await alice.press("Sign the petition")
            await alice.send("Quuxland", timeout=15)
            process.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        assert process.returncode == 0, stderr.decode()
        assert b"Traceback" not in stderr
        if level == "DEBUG":
            assert b" DEBUG " in stderr  # the level took effect
        for private in ("4242777", "Zelda", "Quuxland", server.token.split(":", 1)[1]):
            assert private.encode() not in stderr, private


async def run_bot_against(server: FakeBotAPI, tmp_path: Path, **env: str) -> tuple[int, str]:
    """run_bot.py as a process against the fake Bot API; (exit status, stdout + stderr)."""
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TELEGRAM_", "DATABASE_", "PETITION_", "ADMIN_", "LOG_"))
    }
    settings = {
        "TELEGRAM_BOT_TOKEN": server.token,
        "TELEGRAM_API_URL": server.url,
        "DATABASE_URL": f"sqlite:///{tmp_path}/bot.db",
        "POLLING_TIMEOUT": "1",
        **env,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        RUN_BOT,
        env={**clean, **settings},
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, output.decode()


REJECTED_TOKEN = "4242:rejected-SECRET-part_of_the_token"


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
async def test_a_rejected_token_is_one_line_and_never_printed(tmp_path: Path, level: str) -> None:
    async with FakeBotAPI() as server:
        status, output = await run_bot_against(
            server, tmp_path, TELEGRAM_BOT_TOKEN=REJECTED_TOKEN, LOG_LEVEL=level
        )
    assert status == 2, output
    assert "rejected-SECRET" not in output
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "TELEGRAM_BOT_TOKEN" in errors[0]


async def test_a_wrong_api_path_does_not_print_the_token(tmp_path: Path) -> None:
    async with FakeBotAPI() as server:
        status, output = await run_bot_against(
            server, tmp_path, TELEGRAM_API_URL=f"{server.url}/wrong/path", LOG_LEVEL="DEBUG"
        )
    assert status == 2, output
    assert server.token.split(":", 1)[1] not in output
    assert "Traceback" not in output


async def test_an_unreachable_api_is_one_line(tmp_path: Path) -> None:
    async with FakeBotAPI() as server:
        status, output = await run_bot_against(
            server, tmp_path, TELEGRAM_API_URL="http://127.0.0.1:9"
        )
    assert status == 2, output
    assert "Traceback" not in output
    assert [line for line in output.splitlines() if line.startswith("error:")]


async def test_an_unwritable_database_is_one_line(tmp_path: Path) -> None:
    async with FakeBotAPI() as server:
        status, output = await run_bot_against(
            server, tmp_path, DATABASE_URL="sqlite:////proc/no-such-dir/bot.db"
        )
    assert status == 2, output
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "DATABASE_URL" in errors[0]


async def test_ctrl_c_leaves_the_sandbox_without_a_traceback(tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_"))}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        RUN_BOT,
        "--sandbox",
        env=clean,
        cwd=tmp_path,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    shown = b""
    while b"\n> " not in shown:  # the first screen and its prompt (it may come in pieces)
        chunk = await asyncio.wait_for(process.stdout.read(4096), timeout=30)
        assert chunk, "the sandbox ended before its first prompt"
        shown += chunk
    process.send_signal(signal.SIGINT)
    output, errors = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, errors.decode()
    assert b"Traceback" not in errors and b"Bye." in shown + output


@pytest.mark.parametrize(
    ("title", "problem"),
    [
        ("Free them <script>alert(1)</script>", "<script> is not a tag Telegram allows"),
        ("Ages 5 < 18", "a bare <"),
        ("Rights & duties", "a bare &"),
        ("<b>Unclosed", "<b> is never closed"),
    ],
)
def test_petition_text_telegram_would_refuse_is_named_at_start_up(
    tmp_path: Path, title: str, problem: str
) -> None:
    shipped = (PROJECT_ROOT / "petitions" / "five_eyes.toml").read_text(encoding="utf-8")
    head, english = shipped.split("[text.en]\n", 1)
    old_title = next(line for line in english.splitlines() if line.startswith("title = "))
    english = english.replace(old_title, "title = " + json.dumps(title), 1)
    bad = tmp_path / "bad.toml"
    bad.write_text(f"{head}[text.en]\n{english}", encoding="utf-8")
    result = run_bot("--petition", str(bad), env={"TELEGRAM_BOT_TOKEN": "1:x"}, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "text.en.title" in lines[0] and problem in lines[0], lines


def test_dotenv_next_to_run_bot_is_read_whatever_the_current_folder() -> None:
    # Writing a .env into the checkout would leak into every other test: check the setting.
    files = Settings.model_config["env_file"]
    assert isinstance(files, tuple) and files[0] == Path(RUN_BOT).parent / ".env"
