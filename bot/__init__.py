"""A Telegram bot that walks supporters through reading and signing a petition."""
