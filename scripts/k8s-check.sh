#!/usr/bin/env bash
# Renders every Kubernetes overlay and checks it: the Kubernetes schemas
# (kubernetes-validate --strict) and a policy checker (checkov), whose
# findings must be exactly the accepted ones in
# deploy/kubernetes/checkov-accepted.txt (a new finding, or an accepted one
# that went away, fails: the list stays true).
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
log() { printf '== k8s: %s\n' "$*" >&2; }

if ! command -v kubectl >/dev/null; then
  # kubectl renders the overlays (its kustomize); Debian's kubernetes-client
  # is too old for them and no other registry here has it. CI has kubectl:
  # there its absence fails the run; elsewhere the checks are left out, said.
  if [ "${CI:-}" = true ]; then log "kubectl is required in CI"; exit 1; fi
  log "kubectl not found: Kubernetes checks NOT run (install kubectl to run them)"
  exit 0
fi
if ! command -v kubernetes-validate >/dev/null || ! command -v checkov >/dev/null; then
  log "installing kubernetes-validate and checkov from PyPI"
  python3 -m pip install -q kubernetes-validate checkov
fi

mkdir -p "$work/rendered"
for overlay in deploy/kubernetes/overlays/*/; do
  name="$(basename "$overlay")"
  kubectl kustomize "$overlay" >"$work/rendered/$name.yaml"
  log "$name: $(grep -c '^kind:' "$work/rendered/$name.yaml") objects"
  # CRDs (ServiceMonitor) have no schema here: a warning, not a failure.
  kubernetes-validate --strict --quiet "$work/rendered/$name.yaml"; echo >&2
done

checkov -d "$work/rendered" --framework kubernetes --skip-download --quiet --compact -o json \
  >"$work/checkov.json" 2>"$work/checkov.err" || true
[ -s "$work/checkov.json" ] || { cat "$work/checkov.err" >&2; exit 1; }
python3 - "$work/checkov.json" deploy/kubernetes/checkov-accepted.txt <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
reports = report if isinstance(report, list) else [report]
found = set()
passed = 0
for r in reports:
    passed += r.get("summary", {}).get("passed", 0)
    for f in r.get("results", {}).get("failed_checks", []):
        found.add((f["check_id"], f["resource"]))
accepted = set()
for line in open(sys.argv[2]):
    line = line.strip()
    if line and not line.startswith("#"):
        check, resource = line.split(maxsplit=1)
        accepted.add((check, resource))
new = sorted(found - accepted)
gone = sorted(accepted - found)
print(f"== k8s: checkov: {passed} passed, {len(found)} failed, all of them accepted" if not new and not gone else "", file=sys.stderr)
for check, resource in new:
    print(f"new checkov finding: {check} {resource}", file=sys.stderr)
for check, resource in gone:
    print(f"accepted finding no longer found (take it off the list): {check} {resource}", file=sys.stderr)
sys.exit(1 if new or gone else 0)
PY
