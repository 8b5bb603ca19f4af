"""Git hooks: the one package that knows git's hook calling conventions.

* ``install`` — writing and removing hook scripts (``jirahooks install`` / ``uninstall``);
* ``gitpush`` — what git hands a hook: commit-msg files, pre-push and pre-receive stdin lines,
  all-zero SHAs; turning them into events;
* ``remote`` — the Validation API client (standard library only);
* ``report`` — printing a Validation API result document (remote answers and local ones);
* ``local`` — running the engine inside the hook, one batched Jira pass for a whole push;
* ``receive`` — the server-side pre-receive / update hooks.

The remote-mode path (``remote``, ``report``, ``gitpush``) imports only the standard library
and the stdlib-only modules ``jirahooks.errors``, ``jirahooks.event`` and ``jirahooks.gitio``;
``tests/hooks/test_light_imports.py`` keeps it that way.
"""
