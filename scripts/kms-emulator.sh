#!/usr/bin/env bash
# Installs the KMS emulator used by the integration tests and prints the path of its launcher.
#
# The emulator is moto's server mode (https://github.com/getmoto/moto), pinned below together with
# every Python package it loads, installed with `pip install --target` into a cache directory:
#   ${KMS_EMULATOR_DIR:-$HOME/.cache/agent-api/kms-emulator}/moto-<version>/
# The launcher (bin/kms-emulator) takes moto_server's options, e.g. `kms-emulator -H 127.0.0.1 -p 4599`.
#
# Idempotent: a complete install is reused; a new one is built in a temporary directory next to the
# final one and renamed into place, so concurrent runs (parallel test files, CI jobs) are safe.
# Needs python3 (>= 3.9) with pip; KMS_EMULATOR_PYTHON selects another interpreter.
#
# (local-kms, the Go emulator, would be preferred, but the Go module proxy refuses
# github.com/nsmithuk/local-kms: "403 Forbidden: This module version is not available".)
set -euo pipefail

MOTO_VERSION=5.2.5
# Exact versions of everything `moto==$MOTO_VERSION flask flask-cors` installs (what moto_server needs
# for KMS; moto[server] would add ~180 MB of parsers and validators for other services).
PINS=(
  "moto==$MOTO_VERSION"
  flask==3.1.3
  flask-cors==6.0.5
  werkzeug==3.1.9
  blinker==1.9.0
  click==8.5.1
  itsdangerous==2.2.0
  jinja2==3.1.6
  markupsafe==3.0.4
  boto3==1.44.5
  botocore==1.44.5
  s3transfer==0.19.3
  jmespath==1.1.0
  python-dateutil==2.9.0.post0
  six==1.17.0
  cryptography==50.0.2
  cffi==2.1.1
  pycparser==3.12
  requests==2.34.2
  certifi==2026.10.18
  charset-normalizer==3.5.2
  idna==3.20
  urllib3==2.8.0
  responses==0.26.3
  pyyaml==6.0.3
  xmltodict==1.0.4
)

die() {
  echo "kms-emulator: $*" >&2
  exit 1
}

base="${KMS_EMULATOR_DIR:-${HOME:?HOME is not set}/.cache/agent-api/kms-emulator}"
final="$base/moto-$MOTO_VERSION"
launcher="$final/bin/kms-emulator"

# A complete install: the marker is written last, and the launcher's interpreter still exists.
installed() {
  [[ -f "$final/.complete" && -x "$launcher" ]] || return 1
  local py
  py="$(cat "$final/.python" 2>/dev/null)" || return 1
  [[ -x "$py" ]]
}

if installed; then
  echo "$launcher"
  exit 0
fi

python="${KMS_EMULATOR_PYTHON:-python3}"
command -v "$python" >/dev/null 2>&1 ||
  die "$python not found: install Python >= 3.9 with pip (e.g. apt-get install python3 python3-pip), then run: python3 -m pip --version"
"$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)' ||
  die "moto $MOTO_VERSION needs Python >= 3.9; $("$python" --version 2>&1) found (set KMS_EMULATOR_PYTHON)"
"$python" -m pip --version >/dev/null 2>&1 ||
  die "pip is missing for $python: install it (e.g. apt-get install python3-pip, or $python -m ensurepip --user), then check with: python3 -m pip --version"
python_abs="$("$python" -c 'import sys; print(sys.executable)')"

mkdir -p "$base"
# Serialize installs where flock exists (Linux); without it, concurrent installs still end well
# (the first rename wins, the others discard their copy).
if command -v flock >/dev/null 2>&1; then
  exec 9>"$base/.install.lock"
  flock 9
  if installed; then
    echo "$launcher"
    exit 0
  fi
fi

tmp="$(mktemp -d "$base/.install.XXXXXX")"
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT

echo "kms-emulator: installing moto $MOTO_VERSION into $final (one time, about 10-60 s)" >&2
started=$SECONDS
PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_ROOT_USER_ACTION=ignore PIP_REQUIRE_VIRTUALENV=0 \
  "$python" -m pip install --quiet --no-warn-conflicts --no-warn-script-location \
  --target "$tmp/site" "${PINS[@]}" >&2 ||
  die "pip install of moto $MOTO_VERSION failed (see above); needs network access to PyPI (python3 -m pip install ...)"

mkdir -p "$tmp/bin"
printf '%s\n' "$python_abs" >"$tmp/.python"
cat >"$tmp/bin/kms-emulator" <<EOF
#!/usr/bin/env bash
# moto $MOTO_VERSION server (KMS emulator), installed by scripts/kms-emulator.sh.
here="\$(cd "\$(dirname "\${BASH_SOURCE[0]}")/.." && pwd)"
PYTHONPATH="\$here/site" PYTHONNOUSERSITE=1 PYTHONUNBUFFERED=1 exec "$python_abs" -m moto.server "\$@"
EOF
chmod +x "$tmp/bin/kms-emulator"
# Smoke test before publishing the install.
"$tmp/bin/kms-emulator" --help >/dev/null || die "the installed emulator does not start: $tmp/bin/kms-emulator --help"
touch "$tmp/.complete"

# A stale, incomplete install (interrupted, or its interpreter is gone) is replaced.
if [[ -e "$final" ]] && ! installed; then
  rm -rf "$final"
fi
# os.rename is atomic and refuses to replace a non-empty directory (another run won the race).
if ! "$python" -c 'import os, sys; os.rename(sys.argv[1], sys.argv[2])' "$tmp" "$final" 2>/dev/null; then
  installed || die "could not move the install into $final"
fi
echo "kms-emulator: installed in $((SECONDS - started)) s" >&2
echo "$launcher"
