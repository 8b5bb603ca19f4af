""" "Try these rules on the last N changes of this repository" (issue 16, section 2): the
repository's rule set — as it is, then edited — replayed over the evaluations the server stored,
showing what would change; in German, in Chromium; editors only; bad input explained."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from tests.web.conftest import WS, Browser, Site, screenshot, sign_in
from tests.web.test_web_i18n import _visible_text, english_leftovers

PAGE = f"/ui/w/{WS}/r/api/rules/-/replay"
CHANGES = [
    # (branch, message, author): the verdicts with commit-key-required / gitflow-branch-naming
    ("feature/ABC-1-login", "ABC-1 Fix login", "Ada"),  # PASS / PASS
    ("feature/ABC-2-cache", "no key in this one", "Grace"),  # BLOCK / PASS
    ("wip-stuff", "ABC-3 work in progress", "Linus"),  # PASS / BLOCK
]


def _scene(site: Site) -> dict[str, Any]:
    site.add_repository("api")
    site.api("POST", f"/workspaces/{WS}/rules/from-template", {"template": "commit-key-required"})
    token = site.api(
        "POST", f"/workspaces/{WS}/validation-tokens", {"name": "hooks", "repository": "api"}
    )
    results = []
    for n, (branch, message, author) in enumerate(CHANGES):
        status, body = site.validate(
            token["endpoint"],
            token["secret"],
            {
                "triggerType": "PUSH",
                "branchName": branch,
                "commits": [
                    {"hash": f"{n + 1:x}" * 40, "message": message, "authorDisplayName": author}
                ],
            },
        )
        assert status == 200, body
        results.append(body["result"])
    assert results == ["PASS", "BLOCK", "PASS"]
    return token


def _summary(text: str) -> str:
    found = re.search(r'<p id="replay-summary">([^<]*)</p>', text)
    assert found, text[:2000]
    return html.unescape(found.group(1))


@pytest.mark.browser
def test_try_the_current_and_an_edited_rule_set_in_german(site: Site, page: Any) -> None:
    from playwright.sync_api import expect

    _scene(site)
    sign_in(page, site.admin_token)
    page.goto(f"/ui/language?lang=de-DE&next=/ui/w/{WS}/r/api/rules")  # the language switch
    page.wait_for_url("**/r/api/rules")
    page.get_by_role("link", name="An letzten Änderungen ausprobieren").click()
    page.wait_for_url("**/rules/-/replay")
    expect(page.get_by_role("heading", level=2)).to_have_text(
        "Diese Regeln an den letzten Änderungen dieses Repositorys ausprobieren"
    )
    rules = page.get_by_label("Regelsatz (YAML)")
    expect(rules).to_have_value(re.compile(r"id: commit-key-required"))

    # the rules as they are: the stored verdicts again
    page.get_by_role("button", name="Diese Regeln ausprobieren").click()
    expect(page.locator("#replay-summary")).to_have_text(
        "3 Änderungen nachgespielt: 0 neu blockiert, 0 neu bestanden, 1 weiterhin blockiert, "
        "2 unverändert."
    )
    expect(page.locator("#newly-blocked")).to_have_count(0)

    # edited: git-flow branch names instead of keys in commits
    rules.fill("rules:\n  - template: gitflow-branch-naming\n")
    page.get_by_role("button", name="Diese Regeln ausprobieren").click()
    expect(page.locator("#replay-summary")).to_have_text(
        "3 Änderungen nachgespielt: 1 neu blockiert, 1 neu bestanden, 0 weiterhin blockiert, "
        "1 unverändert."
    )
    blocked = page.locator("#newly-blocked")
    expect(blocked).to_contain_text("wip-stuff")
    expect(blocked).to_contain_text("Branch-Namen folgen git-flow")  # the rule's German title
    expect(blocked).not_to_contain_text("feature/ABC-2-cache")
    expect(page.locator("#newly-passing")).to_contain_text("feature/ABC-2-cache")
    expect(page.locator("#newly-passing")).to_contain_text("no key in this one")
    expect(page.get_by_label("Regelsatz (YAML)")).to_have_value(re.compile("gitflow"))
    screenshot(page, "rules-replay")

    # nothing was saved: the repository's rules are what they were
    assert [
        r["id"] for r in site.api("GET", f"/workspaces/{WS}/repositories/api/effective-rules")
    ] == ["commit-key-required"]

    # a rule set that does not read: said next to the form, in German
    page.get_by_label("Regelsatz (YAML)").fill("rules:\n  - id: x\n    checks: {nope: 1}\n")
    page.get_by_role("button", name="Diese Regeln ausprobieren").click()
    expect(page.locator("#replay-problems")).to_contain_text(
        "Der Regelsatz kann noch nicht ausprobiert werden"
    )
    expect(page.locator("#replay-problems")).to_contain_text("rules[0]")


def test_the_page_in_german_has_no_english_left(site: Site) -> None:
    _scene(site)
    b = Browser(site.url)
    b.sign_in(site.admin_token)
    b.request("GET", "/ui/language?lang=de-DE&next=/ui/")
    status, _, text = b.request("GET", PAGE)
    assert status == 200
    assert '<html lang="de-DE">' in text
    assert not english_leftovers(_visible_text(text))
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', text)
    assert csrf
    status, _, text = b.request(
        "POST", PAGE, {"csrf_token": csrf.group(1), "count": "2", "rules": "rules: []\n"}
    )
    assert status == 200
    # the last two stored changes only; no rule: nothing blocks, the one BLOCK passes now
    assert _summary(text) == (
        "2 Änderungen nachgespielt: 0 neu blockiert, 1 neu bestanden, 0 weiterhin blockiert, "
        "1 unverändert."
    )
    assert not english_leftovers(_visible_text(text))


@pytest.mark.parametrize(
    ("count", "rules", "needle"),
    [
        ("0", "rules: []", "eine ganze Zahl von 1 bis 500"),
        ("501", "rules: []", "eine ganze Zahl von 1 bis 500"),
        ("zehn", "rules: []", "eine ganze Zahl von 1 bis 500"),
        ("5", "rules: [", "not valid YAML"),
        ("5", "workspace: x\nrules: []", "expected a mapping with a rules: list"),
    ],
)
def test_bad_input_is_explained(site: Site, count: str, rules: str, needle: str) -> None:
    _scene(site)
    b = Browser(site.url)
    b.sign_in(site.admin_token)
    b.request("GET", "/ui/language?lang=de-DE&next=/ui/")
    csrf = b.csrf(PAGE)
    status, _, text = b.request("POST", PAGE, {"csrf_token": csrf, "count": count, "rules": rules})
    assert status == 422
    assert needle in html.unescape(text)
    assert 'id="replay-result"' not in text


def test_only_editors_may_try_rules(site: Site) -> None:
    _scene(site)
    member = site.add_user("mia")
    b = Browser(site.url)
    b.sign_in(member)
    status, _, _ = b.request("GET", PAGE)
    assert status == 403
    csrf = b.csrf(f"/ui/w/{WS}")
    status, _, text = b.request("POST", PAGE, {"csrf_token": csrf, "count": "5", "rules": ""})
    assert status == 403
    assert 'id="replay-result"' not in text
    # the rules page offers the link to editors only
    _, _, rules_page = b.request("GET", f"/ui/w/{WS}/r/api/rules")
    assert "replay-link" not in rules_page


def test_the_replay_runs_its_cpu_work_off_the_event_loop(site: Site) -> None:
    """Every CPU step of a replay (the rule set's YAML, each change's planning and judging) runs
    on the CPU pool: while each waits there, /healthz answers."""
    import queue
    import threading

    from tests.support.gated_pool import GatedPool, next_job

    _scene(site)
    b = Browser(site.url)
    b.sign_in(site.admin_token)
    csrf = b.csrf(PAGE)
    pool = GatedPool()
    site.live.app.state.jirahooks.cpu = pool
    answer: queue.Queue[tuple[int, str]] = queue.Queue()
    form = {
        "csrf_token": csrf,
        "count": "3",
        "rules": "rules:\n  - template: commit-key-required\n",
    }
    threading.Thread(
        target=lambda: answer.put(b.request("POST", PAGE, form)[::2]), daemon=True
    ).start()
    answered: list[str] = []
    while answer.empty():
        job = next_job(pool, answer.empty)
        if job is None:
            break
        status, body = Browser(site.url).request("GET", "/healthz")[::2]
        assert status == 200 and "ok" in body
        answered.append(job)
        pool.go.release()
    status, text = answer.get(timeout=120)
    assert status == 200, text[:500]
    assert _summary(text).startswith("3 changes replayed: 0 newly blocked, 0 newly passing")
    # no Jira connection: no recording pass; one plan and one judgement per stored change
    assert pool.ran == ["_parse"] + ["_plan_all", "_judge_all"] * 3
    assert answered == pool.ran


def test_one_batched_jira_pass_for_the_stored_changes(site: Site) -> None:
    """With a Jira connection, the edited rules ask Jira once for the keys of every stored
    change (the fake Jira counts the requests), and a change naming a key Jira does not know
    becomes newly blocked."""
    from tests.fakes.fake_jira import FakeJira

    with FakeJira("cloud") as jira:
        for key in ("ABC-1", "ABC-3"):
            jira.add_issue(key, status="In Progress")
        _scene(site)
        site.add_connection("Acme", jira.url, email=jira.user.email, token=jira.token)
        token = site.api(
            "POST", f"/workspaces/{WS}/validation-tokens", {"name": "more", "repository": "api"}
        )
        for n in range(20):  # more stored changes, each naming a known key
            message = f"ABC-{1 + 2 * (n % 2)} change {n}"
            site.validate(
                token["endpoint"],
                token["secret"],
                {
                    "triggerType": "PUSH",
                    "branchName": "feature/ABC-1-x",
                    "commits": [{"hash": f"{n:040x}", "message": message}],
                },
            )
        site.validate(
            token["endpoint"],
            token["secret"],
            {
                "triggerType": "PUSH",
                "branchName": "feature/ABC-1-x",
                "commits": [{"hash": "e" * 40, "message": "ABC-404 no such issue"}],
            },
        )
        b = Browser(site.url)
        b.sign_in(site.admin_token)
        csrf = b.csrf(PAGE)
        jira.reset_log()
        rules = "rules:\n  - template: all-keys-valid\n    targets: [COMMIT]\n"
        status, _, text = b.request(
            "POST", PAGE, {"csrf_token": csrf, "count": "100", "rules": rules}
        )
        assert status == 200, text[:500]
        paths = [r.path for r in jira.requests]
        # the project list and one bulk fetch for the three keys of 24 changes (the client asks
        # once more for the key the batch did not return, in case it moved)
        assert paths.count("/rest/api/3/project/search") == 1
        assert 1 <= paths.count("/rest/api/3/issue/bulkfetch") <= 2
        assert len(paths) <= 3, paths
        assert _summary(text).startswith("24 changes replayed: 1 newly blocked, 1 newly passing")
        blocked = html.unescape(text.split('id="newly-blocked"', 1)[1].split("</table>", 1)[0])
        assert "ABC-404 no such issue" in blocked
        assert "Jira: 3 keys in 2 batched calls (connections: Acme)." in html.unescape(text)


def test_a_try_judges_a_bounded_number_of_commits(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stored pushes can hold 10,000 commits each: a try takes the newest changes up to its
    bound of commits and says how many older ones it left out."""
    from jirahooks.server.web import pages_replay

    monkeypatch.setattr(pages_replay, "MAX_COMMITS", 2)
    _scene(site)
    b = Browser(site.url)
    b.sign_in(site.admin_token)
    csrf = b.csrf(PAGE)
    status, _, text = b.request(
        "POST", PAGE, {"csrf_token": csrf, "count": "50", "rules": "rules: []\n"}
    )
    assert status == 200, text[:500]
    assert _summary(text).startswith("2 changes replayed:")
    assert "1 older changes were left out: a try judges at most 2 commits." in text


def test_a_try_holds_no_write_lock_while_it_waits_for_jira(site: Site) -> None:
    """A try waits for Jira (and for the background writer) with no write transaction open:
    SQLite takes another writer the moment the try's Jira request is in flight. (The sign-in's
    ``last_used_at``, left pending, was flushed by the page's first query and held the lock for
    the whole request: the writer's rows waited, the try waited for them, and the page hung.)"""
    import sqlite3
    import threading

    from tests.fakes.fake_jira import FakeJira, wait_until

    from jirahooks.store.database import DATABASE_FILE

    with FakeJira("cloud") as jira:
        jira.add_issue("ABC-1", status="In Progress")
        _scene(site)
        site.add_connection("Acme", jira.url, email=jira.user.email, token=jira.token)
        b = Browser(site.url)
        b.sign_in(site.admin_token)
        csrf = b.csrf(PAGE)
        jira.hang(120)  # the try's first Jira request waits until the fake stops
        form = {
            "csrf_token": csrf,
            "count": "10",
            "rules": "rules:\n  - template: all-keys-valid\n",
        }
        answer: list[int] = []
        thread = threading.Thread(
            target=lambda: answer.append(b.request("POST", PAGE, form)[0]), daemon=True
        )
        thread.start()
        assert wait_until(lambda: jira.in_flight > 0, timeout=60), "the try never asked Jira"
        database = sqlite3.connect(
            site.live.app.state.jirahooks.settings.data_dir / DATABASE_FILE, timeout=0
        )
        try:
            database.execute("BEGIN IMMEDIATE")  # "database is locked" if the try holds it
            database.rollback()
        finally:
            database.close()
    thread.join(timeout=120)
    assert answer == [200]
