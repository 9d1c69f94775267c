#!/usr/bin/env bash
# Render runbook plan diffs for a change as one markdown comment (on stdout), for any CI system.
#
#   docs/ci/plan-diffs.sh BASE_REF [PLANS_FILE] > comment.md
#
# For each "playbook inventory [extra vars]" line of PLANS_FILE (default docs/ci/plans.txt) whose
# playbook or inventory differs between BASE_REF and the working tree — every line when another
# file under playbooks/ changed (a template source) — runs
#   runbook diff --base BASE_REF PLAYBOOK -i INVENTORY [extra vars] --format markdown
# Pairs with changes are shown in full; the others are listed in one line each.
# Exit status: 0 when every pair rendered (with or without changes), 2 when one did not load or
# compile (its diagnostics are in the comment). RUNBOOK overrides the command
# (default: npx --no-install runbook; in the runbook repository itself: node bin/runbook.js).
set -euo pipefail

base=${1:?usage: plan-diffs.sh BASE_REF [PLANS_FILE]}
plans=${2:-docs/ci/plans.txt}
runbook=${RUNBOOK:-npx --no-install runbook}

git rev-parse --verify --quiet "$base^{commit}" >/dev/null || {
  echo "plan-diffs.sh: unknown revision $base (fetch it: actions/checkout with fetch-depth: 0)" >&2
  exit 2
}
changed=$(git diff --name-only "$base" --)
all=no
if grep -E '^playbooks/' <<<"$changed" | grep -qvE '\.ya?ml$'; then all=yes; fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
: >"$tmp/body.md"
: >"$tmp/quiet.md"
status=0
shown=0

while read -r playbook inventory extra || [ -n "${playbook:-}" ]; do
  case "${playbook:-}" in '' | '#'*) continue ;; esac
  if [ "$all" = no ] && ! grep -qxF -e "$playbook" -e "$inventory" <<<"$changed"; then continue; fi
  pair="\`$playbook\` on \`$inventory\`"
  if ! git cat-file -e "$base:$playbook" 2>/dev/null || ! git cat-file -e "$base:$inventory" 2>/dev/null; then
    echo "- $pair: new in this change, no base to compare with" >>"$tmp/quiet.md"
    continue
  fi
  code=0
  # $runbook and $extra are split into words on purpose (npx --no-install runbook; -e k=v -e k2=v2).
  # shellcheck disable=SC2086
  $runbook diff --base "$base" "$playbook" -i "$inventory" $extra --format markdown </dev/null >"$tmp/out.md" 2>"$tmp/err.txt" || code=$?
  case $code in
    0) echo "- $pair: no change" >>"$tmp/quiet.md" ;;
    3)
      cat "$tmp/out.md" >>"$tmp/body.md"
      printf '\n---\n\n' >>"$tmp/body.md"
      shown=$((shown + 1))
      ;;
    *)
      status=2
      { printf '**%s: the plan could not be rendered (exit %s)**\n\n```\n' "$pair" "$code"; cat "$tmp/err.txt"; printf '```\n\n---\n\n'; } >>"$tmp/body.md"
      ;;
  esac
done <"$plans"

echo '<!-- runbook-plan-diff -->'
echo "### runbook plan diff against \`$base\`"
echo
if [ "$shown" -eq 0 ] && [ "$status" -eq 0 ]; then
  if [ -s "$tmp/quiet.md" ]; then echo 'No plan changes.'; else echo "No playbook or inventory listed in \`$plans\` changed."; fi
  echo
fi
cat "$tmp/body.md"
if [ -s "$tmp/quiet.md" ]; then
  echo '<details><summary>Unchanged plans</summary>'
  echo
  cat "$tmp/quiet.md"
  echo
  echo '</details>'
fi
exit "$status"
