"""The petitions one bot serves: one file, a folder of them, or a comma-separated list.

Pure data. Each petition keeps its own id (its deep link, `t.me/<bot>?start=<id>`) and a short
tag derived from it, which prefixes its buttons' callback data when the bot serves several, so
a button always acts on the petition it was shown for. A petition whose file disappears on a
reload is retired: closed for signing, still readable, its signatures never deleted.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from bot.petition import Petition, PetitionFileError, load_petition

LIST_SEPARATOR = ","
TAG_BYTES = 6  # 8 characters of base64: collisions are checked at load anyway


def tag_of(petition_id: str) -> str:
    """A short, stable stand-in for the id in callback data (64 bytes at most, all told)."""
    digest = hashlib.blake2b(petition_id.encode(), digest_size=TAG_BYTES).digest()
    return base64.urlsafe_b64encode(digest).decode()


def petition_paths(spec: Path) -> list[Path]:
    """The files `PETITION_FILE` names: a file, every `*.toml` in a folder, or a list of both."""
    parts = [spec] if spec.exists() else [Path(p.strip()) for p in str(spec).split(LIST_SEPARATOR)]
    paths: list[Path] = []
    for part in parts:
        if part.is_dir():
            found = sorted(part.glob("*.toml"))
            if not found:
                raise PetitionFileError(f"PETITION_FILE: {part} holds no *.toml petition file")
            paths.extend(found)
        elif str(part):
            paths.append(part)
    if not paths:
        raise PetitionFileError("PETITION_FILE: names no petition file")
    return paths


def load_petitions(spec: Path) -> list[Petition]:
    """Every petition `spec` names, in order; two files with one id are an error."""
    petitions: list[Petition] = []
    where: dict[str, Path] = {}
    tags: dict[str, str] = {}
    for path in petition_paths(spec):
        petition = load_petition(path)
        if petition.id in where:
            raise PetitionFileError(
                f"PETITION_FILE: {path} and {where[petition.id]} both use id {petition.id!r}"
            )
        tag = tag_of(petition.id)
        if tag in tags:  # astronomically unlikely; say so rather than mix two petitions up
            raise PetitionFileError(
                f"PETITION_FILE: ids {petition.id!r} and {tags[tag]!r} share a button tag; "
                "rename one"
            )
        where[petition.id], tags[tag] = path, petition.id
        petitions.append(petition)
    return petitions


@dataclass(frozen=True)
class Catalog:
    """The petitions served, in file order, and which of them were retired by a reload."""

    petitions: tuple[Petition, ...]
    retired: frozenset[str] = frozenset()
    _by_id: dict[str, Petition] = field(init=False, repr=False, compare=False)
    _by_tag: dict[str, Petition] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.petitions:
            raise ValueError("a catalog holds at least one petition")
        object.__setattr__(self, "_by_id", {p.id: p for p in self.petitions})
        object.__setattr__(self, "_by_tag", {tag_of(p.id): p for p in self.petitions})

    @property
    def several(self) -> bool:
        return len(self.petitions) > 1

    def get(self, petition_id: str) -> Petition | None:
        return self._by_id.get(petition_id)

    def by_tag(self, tag: str) -> Petition | None:
        return self._by_tag.get(tag)

    def open_at(self, now: datetime) -> list[Petition]:
        """Petitions whose file accepts signatures now (an admin's live pause aside)."""
        return [p for p in self.petitions if p.closed_reason(now) is None]

    def default(self, now: datetime) -> Petition:
        """The only petition, else the newest open one (listed last), else the newest one
        still in the files (a retired petition only when nothing else is left)."""
        open_now = self.open_at(now)
        if open_now:
            return open_now[-1]
        served = [p for p in self.petitions if p.id not in self.retired]
        return (served or list(self.petitions))[-1]

    def reloaded(self, fresh: list[Petition], now: datetime) -> Catalog:
        """The catalog after the files were read again: petitions no longer there stay,
        retired (their deadline moved to now, so they close), after the ones still served."""
        fresh_ids = {p.id for p in fresh}
        gone = [
            retire(p, now) if p.id not in self.retired else p
            for p in self.petitions
            if p.id not in fresh_ids
        ]
        return Catalog((*fresh, *gone), frozenset(p.id for p in gone))


def retire(petition: Petition, now: datetime) -> Petition:
    """Closed from now on (or from its own earlier deadline), its text kept."""
    if petition.deadline is not None and petition.deadline <= now:
        return petition
    return petition.model_copy(update={"deadline": now})
