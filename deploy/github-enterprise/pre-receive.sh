#!/bin/sh
# jirahooks as a GitHub Enterprise Server pre-receive hook (docs/github.md,
# "GitHub Enterprise Server: pre-receive").
#
# GitHub Enterprise Server runs a pre-receive hook inside its "pre-receive hook environment"
# (a chroot built from deploy/github-enterprise/Dockerfile) and kills it after 5 seconds. This
# script asks a jirahooks server (remote mode: the server's rules, Jira connections and audit
# trail apply) within a budget below that limit, and rejects the push when the server blocks
# it or cannot answer in time (fail closed; JIRAHOOKS_FAIL_OPEN=1 in jirahooks.env lets it
# through instead).
#
# Configuration: $JIRAHOOKS_CONF_DIR/jirahooks.env (default /etc/jirahooks/jirahooks.env),
# read by jirahooks itself (KEY=value lines, never run as shell):
#   JIRAHOOKS_ENDPOINT=https://jirahooks.example.com/api/validate/<workspace>
#   JIRAHOOKS_SECRET=<a validation token of that workspace>
#   JIRAHOOKS_BUDGET=4              optional: seconds for the whole check (default 4)
# The repository comes from GitHub's GITHUB_REPO_NAME (owner/name → repoSlug=name) unless the
# endpoint names one; the pusher from GITHUB_USER_LOGIN.
set -u

conf_dir="${JIRAHOOKS_CONF_DIR:-/etc/jirahooks}"
python="${JIRAHOOKS_PYTHON:-python3}"

budget="${JIRAHOOKS_BUDGET:-}"
if [ -z "$budget" ] && [ -r "$conf_dir/jirahooks.env" ]; then
    budget="$(sed -n 's/^[[:space:]]*JIRAHOOKS_BUDGET[[:space:]]*=[[:space:]]*//p' "$conf_dir/jirahooks.env" | tail -n 1)"
fi
case "$budget" in
    '' | *[!0-9.]*) budget=4 ;;  # 4 s of GitHub's 5: the interpreter starts in the last one
esac

if [ -n "${GITHUB_REPO_NAME:-}" ] && [ -z "${JIRAHOOKS_REPO_SLUG:-}" ]; then
    JIRAHOOKS_REPO_SLUG="${GITHUB_REPO_NAME##*/}"
    export JIRAHOOKS_REPO_SLUG
fi

exec "$python" -m jirahooks hook pre-receive \
    --mode remote \
    --timeout "$budget" \
    --hooks-dir "$conf_dir" \
    --user "${GITHUB_USER_LOGIN:-${JIRAHOOKS_USER:-}}"
