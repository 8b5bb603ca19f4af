"""Is this the secret key the database's secrets were encrypted with? Asked before anything is
written, by the server at start and by every command that opens the database with a key
(``apply``, ``secrets rotate-key``).

The answer comes from ``server_meta.secret_key_check``: a constant encrypted with the server's
key, recorded by the first process that opens the database with a key. A database without that
row yet (made before 0005, or never opened with a key) is checked against the secrets it holds:
the key must decrypt at least one of them.

A new key file is only ever made for a database that holds nothing encrypted and no user yet
(a first start). Otherwise a command run without the server's ``--data-dir`` would create a key
of its own next to the caller and encrypt new secrets with it — secrets the server cannot read.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from jirahooks.crypto import KEY_ENV, SecretBox, SecretKeyError, load_box
from jirahooks.store.database import Database
from jirahooks.store.deliveries import PlatformConfig
from jirahooks.store.models import Connection, ServerMeta, User, ValidationToken, utcnow

CHECK_NAME = "secret_key_check"
CHECK_PLAINTEXT = "jirahooks secret key check v1"

SERVER_KEY_HINT = (
    "use the server's key: run the command on the server host with the server's --data-dir "
    f"(or JIRAHOOKS_DATA_DIR), or set {KEY_ENV} to the server's key; nothing was written"
)


def _decrypts(box: SecretBox, ciphertext: str) -> bool:
    try:
        box.decrypt(ciphertext)
    except SecretKeyError:
        return False
    return True


async def stored_ciphertexts(session: AsyncSession) -> list[str]:
    """Every encrypted secret of the store (connections, validation tokens, platforms)."""
    found: list[str] = []
    found += [t for t in (await session.execute(select(Connection.token_encrypted))).scalars() if t]
    found += [
        t for t in (await session.execute(select(ValidationToken.secret_encrypted))).scalars()
    ]
    for token, webhook in await session.execute(
        select(PlatformConfig.token_encrypted, PlatformConfig.webhook_secret_encrypted)
    ):
        found += [t for t in (token, webhook) if t]
    return found


async def holds_data(session: AsyncSession) -> bool:
    """Whether the database was used before: a key check, a user or an encrypted secret."""
    if await session.get(ServerMeta, CHECK_NAME) is not None:
        return True
    if (await session.execute(select(func.count(User.id)))).scalar_one():
        return True
    return bool(await stored_ciphertexts(session))


def mismatch(box: SecretBox) -> SecretKeyError:
    return SecretKeyError(
        f"the secret key from {box.source or 'the configuration'} is not the key this "
        "database's secrets are encrypted with",
        hint=SERVER_KEY_HINT,
    )


async def verify(session: AsyncSession, box: SecretBox) -> None:
    """Raise SecretKeyError unless ``box`` is the database's key; record the check when there
    is none yet (the caller commits)."""
    row = await session.get(ServerMeta, CHECK_NAME)
    if row is not None:
        if not _decrypts(box, row.value):
            raise mismatch(box)
        return
    secrets = await stored_ciphertexts(session)
    if secrets and not any(_decrypts(box, s) for s in secrets):
        raise mismatch(box)
    session.add(ServerMeta(name=CHECK_NAME, value=box.encrypt(CHECK_PLAINTEXT)))


async def re_encrypt(session: AsyncSession, box: SecretBox) -> None:
    """After a key rotation: the check under ``box``'s primary key."""
    row = await session.get(ServerMeta, CHECK_NAME)
    if row is None:
        session.add(ServerMeta(name=CHECK_NAME, value=box.encrypt(CHECK_PLAINTEXT)))
    else:
        row.value = box.encrypt(CHECK_PLAINTEXT)
        row.updated_at = utcnow()


async def open_box(
    database: Database, data_dir: str | Path | None, environ: Mapping[str, str]
) -> SecretBox:
    """The secret key for this database, verified; a key file is only created on a database
    that holds nothing yet. Raises SecretKeyError (nothing written) otherwise."""
    for attempt in (1, 2):
        async with database.session() as session:
            used = await holds_data(session)
            try:
                box = load_box(data_dir, environ=dict(environ), create=not used)
            except SecretKeyError as exc:
                if not used:
                    raise
                raise SecretKeyError(
                    f"{exc.message}: this database already holds data encrypted with the "
                    "server's secret key, so no new key is made",
                    hint=SERVER_KEY_HINT,
                ) from exc
            await verify(session, box)
            try:
                await session.commit()
            except IntegrityError:  # another process recorded the check first: verify it
                await session.rollback()
                if attempt == 2:
                    raise
                continue
            return box
    raise AssertionError("unreachable")
