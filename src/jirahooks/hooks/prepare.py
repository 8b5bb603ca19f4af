"""The prepare-commit-msg hook: the branch's issue key goes into a message that has none.

git calls ``prepare-commit-msg FILE [SOURCE [SHA]]`` before the editor opens (and with ``-m``
/ ``-F``, where no editor opens). SOURCE is ``message`` (``-m``/``-F``), ``template``
(``-t``/``commit.template``), ``merge``, ``squash`` or ``commit`` (``-c``/``-C``/``--amend``,
with the commit's SHA); none for a plain ``git commit``. On branch ``feature/ABC-123-login``
and a message without a key, the key is inserted the way the workspace wants it — a template
such as ``{key} {message}`` (``ABC-123 Fix login``) or ``[{key}] {message}``: the setting
``commit_message_template``, else the first shape the rules' commit naming patterns accept
(``engine.suggest.message_template``). Nothing is inserted:

* for merges and squashes (SOURCE ``merge`` / ``squash``), reverts (``Revert "…"``, "This
  reverts commit …"), ``fixup!`` / ``squash!`` / ``amend!`` commits, and merge subjects;
* when the message names a key already (also an amended message that has one);
* on a detached HEAD (a rebase in progress, a checked-out tag), or a branch without a key.

Comment lines use ``core.commentChar`` (``core.commentString`` since git 2.45); with ``auto``,
git picked a character the message does not start a line with: it is read from the comment
lines git wrote (the last lines of the file). The scissors line of ``commit -v`` ends the
message.

An empty message (the editor flow) gets the key alone, ``ABC-123 ``: the developer writes after
it. Left that way, git would commit the bare key instead of aborting an empty commit; so the
inserted text is remembered in ``.git/jirahooks/prepared`` and the commit-msg hook aborts a
message that is nothing but it (``only_inserted``).

Light like the other hooks: the form (template + key settings) is kept in
``.git/jirahooks/prepare-*.json`` beside the rules cache, keyed by the rules file's bytes; only
a changed rules file loads the engine to derive it again. In remote mode the server says the
form (``POST <endpoint>/message-format``, docs/validation-api.md "Message format"), cached for
ten minutes; a server that does not know the request (another product) or cannot be reached
leaves ``{key} {message}``. The hook never fails a commit: any trouble is a warning.
"""

from __future__ import annotations

import json
import os
import time

from jirahooks import gitio, output

TYPE_CHECKING = False  # the hook path does not import typing
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from jirahooks.hooks.entry import Call, Repository

DEFAULT_TEMPLATE = "{key} {message}"
SKIP_SOURCES = ("merge", "squash")
SKIP_PREFIXES = ("fixup!", "squash!", "amend!")
AUTO_COMMENT_CHARS = "#;@!$%^&|:"  # what git's core.commentChar=auto picks from, in order
FORM_VERSION = 1
REMOTE_CACHE = "message-format.json"
REMOTE_TTL_SECONDS = 600.0
REMOTE_TIMEOUT_SECONDS = 5.0  # the editor waits for this hook
PREPARED = "prepared"  # the text inserted into an empty message (commit-msg aborts on it)


def default_form() -> dict[str, Any]:
    from jirahooks.keys import DEFAULT_IGNORED_KEYS, DEFAULT_KEY_PATTERN

    return {
        "version": FORM_VERSION,
        "template": DEFAULT_TEMPLATE,
        "source": "default",
        "key_pattern": DEFAULT_KEY_PATTERN,
        "ignored_keys": list(DEFAULT_IGNORED_KEYS),
        "backslash_escape": True,
        "backtick_escape": True,
        "case_insensitive": ["BRANCH"],
    }


def form_of(rules: Sequence[Any], settings: Any) -> dict[str, Any]:
    """What prepare-commit-msg needs of a workspace's rules and settings (plain JSON): the
    template and the key extraction settings. Used by local mode and by the server."""
    from jirahooks.engine.suggest import message_template

    template, source = message_template(rules, settings)
    return {
        "version": FORM_VERSION,
        "template": template,
        "source": source,
        "key_pattern": settings.key_pattern,
        "ignored_keys": list(settings.ignored_keys),
        "backslash_escape": settings.backslash_escape,
        "backtick_escape": settings.backtick_escape,
        "case_insensitive": sorted(t.value for t in settings.case_insensitive),
    }


# --- the message ----------------------------------------------------------------------------


def comment_prefix(raw: str, configured: str) -> str:
    """The comment prefix of the message file: ``core.commentString``/``core.commentChar``
    (default ``#``); for ``auto`` the character git chose, read from the file's last
    non-blank line (git writes its comments after the message)."""
    if configured and configured != "auto":
        return configured
    if configured == "auto":
        for line in reversed(raw.splitlines()):
            if line.strip():
                return line[0] if line[0] in AUTO_COMMENT_CHARS else "#"
    return "#"


def command_line_config(parameters: str, names: Sequence[str]) -> dict[str, str]:
    """``git -c NAME=VALUE`` settings as git hands them to hooks (``GIT_CONFIG_PARAMETERS``:
    ``'name'='value'`` or, from older gits, ``'name=value'``, shell-quoted), for ``names``.
    The git calls of the hook run without ``GIT_*`` variables, so they do not see these."""
    out: dict[str, str] = {}
    tokens: list[str] = []
    i = 0
    while i < len(parameters):
        if parameters[i] == "'":
            end = parameters.find("'", i + 1)
            if end < 0:
                break
            tokens.append(parameters[i + 1 : end])
            i = end + 1
            if parameters[i : i + 2] == "='":
                end = parameters.find("'", i + 2)
                if end < 0:
                    break
                tokens[-1] += "=" + parameters[i + 2 : end]
                i = end + 1
        else:
            i += 1
    for token in tokens:
        name, _, value = token.partition("=")
        if name.lower() in names:
            out[name.lower()] = value
    return out


class Extractor:
    """Key extraction as the workspace's settings say (``keys.KeyExtractor``), from a form."""

    def __init__(self, form: dict[str, Any]) -> None:
        from jirahooks.keys import KeyExtractor

        self.extractor = KeyExtractor(
            str(form.get("key_pattern") or ""),
            ignored=tuple(form.get("ignored_keys") or ()),
            backslash_escape=bool(form.get("backslash_escape", True)),
            backtick_escape=bool(form.get("backtick_escape", True)),
        )
        self.insensitive = set(form.get("case_insensitive") or ())

    def branch_key(self, branch: str) -> str:
        keys = self.extractor.keys(branch, case_insensitive="BRANCH" in self.insensitive)
        return keys[0] if keys else ""

    def has_key(self, message: str) -> bool:
        """A key the checks would count: an escaped one (``\\ABC-1``, in backticks) is code,
        not a reference, so the branch's key is still added."""
        keys = self.extractor.keys(message, case_insensitive="COMMIT" in self.insensitive)
        return bool(keys)


def prepared_text(
    raw: str, *, source: str, branch: str, prefix: str, template: str, extractor: Extractor
) -> tuple[str, str] | None:
    """``(new file text, the key)``, or None when nothing is to be inserted."""
    if source in SKIP_SOURCES or not branch:
        return None
    key = extractor.branch_key(branch)
    if not key:
        return None
    lines = raw.split("\n")
    scissors = f"{prefix} ------------------------ >8 ------------------------"
    content: list[int] = []
    for i, line in enumerate(lines):
        if line == scissors:
            break
        if not line.startswith(prefix):
            content.append(i)
    message = "\n".join(lines[i] for i in content).strip()
    if extractor.has_key(message):
        return None
    subject_at = next((i for i in content if lines[i].strip()), None)
    subject = lines[subject_at].strip() if subject_at is not None else ""
    if subject.startswith(SKIP_PREFIXES):
        return None
    if gitio.is_merge_subject(subject) or gitio.is_revert_message(message):
        return None
    template = template or DEFAULT_TEMPLATE
    if subject_at is None:
        first = template.replace("{key}", key).replace("{message}", "").strip()
        if template.endswith("{message}"):
            first += " "
        return first + ("\n" if raw.startswith("\n") or not raw else "\n\n") + raw, key
    lines[subject_at] = template.replace("{key}", key).replace("{message}", subject)
    return "\n".join(lines), key


# --- the hook -------------------------------------------------------------------------------


def run(call: Call, repo: Repository, mode: str, config: object, env: dict[str, str]) -> int:
    """prepare-commit-msg: insert the key if it is wanted; never fails the commit."""
    try:
        return _run(call, repo, mode, config, env)
    except Exception as exc:  # a hook that prepares a message must never stop a commit
        if env.get("JIRAHOOKS_DEBUG"):
            raise
        output.err(f"jirahooks: warning: prepare-commit-msg: {exc}; the message was left as is")
        return 0


def _run(call: Call, repo: Repository, mode: str, config: object, env: dict[str, str]) -> int:
    path = call.args[0]
    source = call.args[1] if len(call.args) > 1 else env.get("PRE_COMMIT_COMMIT_MSG_SOURCE", "")
    cache = os.path.join(repo.common_dir, "jirahooks") if repo.common_dir else ""
    _forget(repo.git_dir)
    if source in SKIP_SOURCES:
        return 0
    from jirahooks.hooks.gitpush import head_branch

    branch = head_branch(repo.git_dir)
    if not branch:
        return 0  # detached HEAD: a rebase, a tag, a bisect — nothing to insert, nothing to say
    with open(path, encoding="utf-8", errors="surrogateescape") as fh:
        raw = fh.read()
    names = ("core.commentchar", "core.commentstring")
    configured = gitio.config_values(names)
    configured.update(command_line_config(env.get("GIT_CONFIG_PARAMETERS", ""), names))
    prefix = comment_prefix(
        raw, configured.get("core.commentstring") or configured.get("core.commentchar") or ""
    )
    if mode == "remote":
        form = remote_form(config, cache)
    elif mode == "local":
        form = local_form(call, repo, str(config), cache)
    else:
        return 0
    result = prepared_text(
        raw,
        source=source,
        branch=branch,
        prefix=prefix,
        template=str(form.get("template") or DEFAULT_TEMPLATE),
        extractor=Extractor(form),
    )
    if result is None:
        return 0
    text, key = result
    with open(path, "w", encoding="utf-8", errors="surrogateescape") as fh:
        fh.write(text)
    if not gitio.clean_message(raw, prefix[:1]).strip():
        _remember(repo.git_dir, text.split("\n", 1)[0].strip())
    from jirahooks.i18n import translate

    output.err(translate("prepare.inserted", _locale(env), key=key))
    return 0


def _locale(env: dict[str, str]) -> str:
    from jirahooks.i18n import normalize_locale

    return normalize_locale(env.get("JIRAHOOKS_LOCALE") or env.get("LANG"))


def _remember(git_dir: str, inserted: str) -> None:
    if not git_dir:
        return
    try:
        os.makedirs(os.path.join(git_dir, "jirahooks"), exist_ok=True)
        with open(os.path.join(git_dir, "jirahooks", PREPARED), "w", encoding="utf-8") as fh:
            fh.write(inserted)
    except OSError:
        pass


def _forget(git_dir: str) -> None:
    """A record of an earlier commit that git aborted is not this commit's."""
    record = os.path.join(git_dir, "jirahooks", PREPARED)
    if git_dir and os.path.exists(record):
        os.unlink(record)


def only_inserted(git_dir: str, message: str) -> str:
    """For commit-msg: the key when ``message`` is nothing but the text prepare-commit-msg put
    into an empty message (the developer wrote nothing: git must abort, as for an empty
    message); else ''. The record is used once."""
    if not git_dir:
        return ""
    record = os.path.join(git_dir, "jirahooks", PREPARED)
    try:
        with open(record, encoding="utf-8") as fh:
            inserted = fh.read().strip()
        os.unlink(record)
    except OSError:
        return ""
    return inserted if inserted and message.strip() == inserted else ""


# --- where the form comes from --------------------------------------------------------------


def local_form(call: Call, repo: Repository, config: str, cache: str) -> dict[str, Any]:
    """The form for the rules file ``config``: cached beside the rules cache while the file's
    bytes are unchanged; derived with the engine (and remembered) otherwise."""
    from jirahooks.hooks import compiled

    try:
        with open(config, "rb") as fh:
            raw = fh.read()
    except OSError:
        return default_form()
    name, key = compiled.cache_entry(config, raw)
    key = f"prepare {FORM_VERSION} {call.repo or ''}\0{key}"
    entry = os.path.join(cache, "prepare-" + name.removeprefix("rules-")) if cache else ""
    if entry:
        try:
            with open(entry, encoding="utf-8") as fh:
                cached = json.load(fh)
            if isinstance(cached, dict) and cached.get("key") == key:
                form = cached.get("form")
                if isinstance(form, dict) and form.get("version") == FORM_VERSION:
                    return form
        except (OSError, ValueError):
            pass
    from jirahooks.hooks.entry import load_setup

    setup = load_setup(config, call.repo, repo)
    form = form_of(setup.rules, setup.settings)
    if entry:
        from pathlib import Path

        from jirahooks.hooks.local import write_atomically

        write_atomically(
            Path(entry),
            json.dumps({"key": key, "form": form}),
            siblings=compiled.siblings("prepare-" + name.removeprefix("rules-")),
        )
    return form


def remote_form(config: object, cache: str) -> dict[str, Any]:
    """The server's form (``remote.message_format``), cached for ``REMOTE_TTL_SECONDS`` per
    endpoint; the default form when the server does not answer with one."""
    from jirahooks.hooks import remote

    assert isinstance(config, remote.RemoteConfig)
    entry = os.path.join(cache, REMOTE_CACHE) if cache else ""
    cached = _read_remote_cache(entry, config.endpoint)
    if cached is not None and time.time() - float(cached.get("at", 0)) < REMOTE_TTL_SECONDS:
        return _usable(cached.get("form"))
    try:
        form = remote.message_format(
            config.replace(timeout=min(config.timeout, REMOTE_TIMEOUT_SECONDS))
        )
    except remote.ServerUnreachable:
        return _usable(cached.get("form")) if cached is not None else default_form()
    if entry:
        try:
            os.makedirs(cache, exist_ok=True)
            tmp = f"{entry}.tmp{os.getpid()}"
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump({"endpoint": config.endpoint, "at": time.time(), "form": form}, fh)
            os.replace(tmp, entry)
        except OSError:
            pass
    return _usable(form)


def _read_remote_cache(entry: str, endpoint: str) -> dict[str, Any] | None:
    if not entry:
        return None
    try:
        with open(entry, encoding="utf-8") as fh:
            cached = json.load(fh)
    except (OSError, ValueError):
        return None
    return cached if isinstance(cached, dict) and cached.get("endpoint") == endpoint else None


def _usable(form: object) -> dict[str, Any]:
    """A form from the server or a cache, with defaults for what it does not say."""
    out = default_form()
    if isinstance(form, dict):
        template = form.get("template")
        if isinstance(template, str) and "{key}" in template and "{message}" in template:
            out["template"] = template
            out["source"] = str(form.get("source") or "server")
        for name in ("key_pattern", "backslash_escape", "backtick_escape"):
            if isinstance(form.get(name), str | bool) and form.get(name) != "":
                out[name] = form[name]
        for name in ("ignored_keys", "case_insensitive"):
            if isinstance(form.get(name), list):
                out[name] = [str(v) for v in form[name]]
    return out
