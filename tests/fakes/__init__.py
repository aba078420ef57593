"""Test doubles: a fake Telegram Bot API server and the people who talk to the bot."""

from tests.fakes.bot_api import Call, FakeBotAPI, FakeUser

__all__ = ["Call", "FakeBotAPI", "FakeUser"]
