"""Text as a person reads it: the invisible isolates the bot puts around values left out.

Every value the bot sets into a message is isolated (FSI … PDI, see
`bot.i18n.Translator.format`), so "You are signer #1." is sent as "You are signer #⁨1⁩.".
Tests that mean what the supporter reads compare `unisolated(text)`; tests about direction
look at the isolates themselves.
"""

from __future__ import annotations

ISOLATE_CONTROLS = "\u2066\u2067\u2068\u2069"  # LRI, RLI, FSI, PDI
_WITHOUT_ISOLATES = {ord(char): None for char in ISOLATE_CONTROLS}


def unisolated(text: str) -> str:
    """`text` without its directional isolates (marks such as U+200F stay)."""
    return text.translate(_WITHOUT_ISOLATES)
