"""The schema's migrations, one folder of SQL scripts per backend (storage/migrations/)."""

from __future__ import annotations

from importlib import resources


def migration_scripts(dialect: str) -> list[tuple[int, str]]:
    """(version, SQL) of every migration for a backend, oldest first."""
    folder = resources.files("storage") / "migrations" / dialect
    return sorted(
        (int(entry.name.split("_", 1)[0]), entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".sql")
    )


def split_sql(script: str) -> list[str]:
    """Statements of a migration script (our scripts keep `;` out of strings and comments)."""
    lines = [line for line in script.splitlines() if not line.strip().startswith("--")]
    return [statement.strip() for statement in "\n".join(lines).split(";") if statement.strip()]
