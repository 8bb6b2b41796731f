"""auction_engine/secret_file.py: one secret per file, created private, the first writer's kept."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from auction_engine.secret_file import load_or_create, private_dir


def test_a_new_secret_is_random_private_and_read_back_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "escrow-secret"
    first = load_or_create(path)
    assert len(first) >= 43  # 32 random bytes, url-safe base64
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create(path) == first
    assert load_or_create(tmp_path / "other") != first


def test_an_existing_file_wins_and_an_empty_one_is_refused(tmp_path: Path) -> None:
    (tmp_path / "kept").write_text("  chosen-by-operator\n")
    assert load_or_create(tmp_path / "kept") == "chosen-by-operator"
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ValueError, match="empty"):
        load_or_create(tmp_path / "empty")


def test_private_dir_creates_and_tightens(tmp_path: Path) -> None:
    loose = tmp_path / "data"
    loose.mkdir(mode=0o755)
    loose.chmod(0o755)
    assert private_dir(loose) == loose
    assert stat.S_IMODE(loose.stat().st_mode) == 0o700
    nested = private_dir(tmp_path / "a" / "b")
    assert stat.S_IMODE(nested.stat().st_mode) == 0o700
