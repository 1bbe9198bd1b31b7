#!/usr/bin/env bash
# Copyright The Archon Authors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

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
