"""The server secret: 32 random bytes generated on first start, kept in the data dir (0600).

It signs sync tokens and chunk upload URLs, derives refresh-token successors and the
data dir's first access-token key (later ones, from ``homesync keys rotate``, are in the
``signing_keys`` table). Losing it signs every device out; it is part of every backup.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

__all__ = ["SECRET_FILE", "load_or_create_secret"]

SECRET_FILE = "server.key"


def load_or_create_secret(data_dir: Path) -> bytes:
    path = data_dir / SECRET_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_bytes(32)
        tmp = data_dir / f".{SECRET_FILE}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, key.hex().encode() + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            # link() fails if another process won the race: then use theirs.
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
        dir_fd = os.open(data_dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        raw = path.read_bytes()
    try:
        key = bytes.fromhex(raw.decode().strip())
    except ValueError:
        raise RuntimeError(f"{path} is damaged: expected 64 hex characters") from None
    if len(key) < 32:
        raise RuntimeError(f"{path} is damaged: the key is shorter than 256 bits")
    return key
