"""Secrets at rest: Jira API tokens and Validation API (HMAC) secrets, encrypted with Fernet.

The key comes from ``JIRAHOOKS_SECRET_KEY`` (one or more comma-separated Fernet keys; the first
encrypts, all decrypt, so a rotation can be staged) or, when that is unset, from the key file
``secret.key`` in the data directory, created with mode 0600 on first start. Ciphertexts are
Fernet tokens (text); ``SecretBox.rotate`` re-encrypts one under the primary key.

Secrets are never logged: ``SecretBox`` has no ``__repr__`` that shows a key, and decryption
failures say which key to check, not what was decrypted.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from jirahooks.errors import EnvironmentProblem

KEY_ENV = "JIRAHOOKS_SECRET_KEY"
KEY_FILE_NAME = "secret.key"


class SecretKeyError(EnvironmentProblem):
    """The secret key is missing, malformed, or does not decrypt the stored secrets."""

    code = "SECRET_KEY_INVALID"


def generate_key() -> str:
    """A new random Fernet key (url-safe base64 text)."""
    return Fernet.generate_key().decode("ascii")


def parse_keys(text: str, *, source: str) -> list[str]:
    """Comma- or newline-separated keys; raises SecretKeyError for a malformed one."""
    keys = [k.strip() for k in text.replace("\n", ",").split(",") if k.strip()]
    if not keys:
        raise SecretKeyError(
            f"{source} holds no key", hint="generate one: jirahooks secrets generate-key"
        )
    for key in keys:
        try:
            Fernet(key.encode("ascii"))
        except (ValueError, UnicodeEncodeError) as exc:
            raise SecretKeyError(
                f"{source} holds a malformed key (Fernet keys are 32 url-safe base64 bytes)",
                hint="generate one: jirahooks secrets generate-key",
            ) from exc
    return keys


class SecretBox:
    """Encrypts and decrypts secrets with an ordered list of keys (first one encrypts)."""

    def __init__(self, keys: Sequence[str], *, source: str = "") -> None:
        if not keys:
            raise SecretKeyError("no secret key", hint=f"set {KEY_ENV} or use a data directory")
        self.keys = tuple(keys)
        self.source = source
        self._fernet = MultiFernet([Fernet(k.encode("ascii")) for k in self.keys])

    def __repr__(self) -> str:
        return f"SecretBox(keys={len(self.keys)}, source={self.source!r})"

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError) as exc:
            raise SecretKeyError(
                "a stored secret cannot be decrypted with the configured key",
                hint=f"check {KEY_ENV} / the key file ({self.source or 'unknown'}); after a "
                "rotation keep the old key after the new one until `jirahooks secrets rotate-key` "
                "has finished",
            ) from exc

    def rotate(self, ciphertext: str) -> str:
        """The same secret, encrypted with the primary (first) key."""
        try:
            return self._fernet.rotate(ciphertext.encode("ascii")).decode("ascii")
        except InvalidToken as exc:
            raise SecretKeyError(
                "a stored secret cannot be decrypted with any configured key",
                hint="add the previous key after the new one and retry",
            ) from exc


def key_file(data_dir: str | Path) -> Path:
    return Path(data_dir) / KEY_FILE_NAME


def write_key_file(path: Path, keys: Sequence[str]) -> None:
    """Write keys atomically with mode 0600 (written to a temporary file, then renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write("\n".join(keys) + "\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def load_box(
    data_dir: str | Path | None,
    *,
    environ: dict[str, str] | None = None,
    create: bool = True,
) -> SecretBox:
    """The SecretBox from the environment, else from the data directory's key file.

    ``create``: make a new key file (0600) when there is none — the server's first start.
    """
    env = os.environ if environ is None else environ
    if env.get(KEY_ENV, "").strip():
        return SecretBox(parse_keys(env[KEY_ENV], source=KEY_ENV), source=KEY_ENV)
    if data_dir is None:
        raise SecretKeyError(
            f"no secret key: {KEY_ENV} is unset and there is no data directory",
            hint=f"set {KEY_ENV} (jirahooks secrets generate-key) or pass --data-dir",
        )
    path = key_file(data_dir)
    if not path.exists():
        if not create:
            raise SecretKeyError(
                f"no key file at {path}", hint=f"set {KEY_ENV} or start the server once"
            )
        write_key_file(path, [generate_key()])
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretKeyError(f"cannot read the key file {path}: {exc}") from exc
    return SecretBox(parse_keys(text, source=str(path)), source=str(path))
