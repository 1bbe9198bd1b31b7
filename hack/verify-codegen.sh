#!/usr/bin/env bash
# Fails when the generated code in the tree differs from what
# hack/update-codegen.sh produces now.
set -o errexit -o nounset -o pipefail

SCRIPT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "${WORK}"' EXIT

# Generate into a copy of the tree so a stale checkout is reported, not fixed.
tar -C "${SCRIPT_ROOT}" --exclude=./_output --exclude=./.git -cf - . | tar -C "${WORK}" -xf -
ARCHON_CODEGEN_BIN="${SCRIPT_ROOT}/_output/bin/codegen" "${WORK}/hack/update-codegen.sh"

if ! diff -Nur "${SCRIPT_ROOT}/pkg" "${WORK}/pkg" ||
    ! diff -Nu "${SCRIPT_ROOT}/hack/api-rule-violations.list" "${WORK}/hack/api-rule-violations.list"; then
    echo "generated code is out of date: run hack/update-codegen.sh" >&2
    exit 1
fi
echo "generated code is up to date"
