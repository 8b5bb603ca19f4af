"""Git hooks: the one package that knows git's hook calling conventions.

* ``entry`` — the client hooks (commit-msg, pre-push): what the installed scripts run, light;
* ``install`` — writing and removing hook scripts (``jirahooks install`` / ``uninstall``);
* ``gitpush`` — what git hands a hook: commit-msg files, pre-push and pre-receive stdin lines,
  all-zero SHAs; turning them into events;
* ``remote`` — the Validation API client (standard library only, HTTP over a socket);
* ``report`` — printing a Validation API result document (remote answers and local ones);
* ``local`` — running the engine inside the hook, one batched Jira pass for a whole push, the
  rules cache under ``.git/jirahooks/``;
* ``runner`` — ``jirahooks hook``'s options, and the server-side pre-receive / update hooks.

The remote-mode path (``entry``, ``remote``, ``report``, ``gitpush``) imports only the standard
library — not even ``dataclasses``, ``typing``, ``subprocess`` or ``pathlib`` — and the light
modules ``jirahooks.errors``, ``jirahooks.output`` and ``jirahooks.gitio``;
``tests/hooks/test_light_imports.py`` keeps it that way from real commits' import profiles.
"""
