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

# Fails when a package under pkg/registry/... or pkg/controller/... depends,
# directly or through other packages, tests included, on the server assembly
# (pkg/apiserver or anything under cmd/). Storage and controllers are the
# parts the assembly is built from; an import the other way round makes a
# cycle waiting to happen and drags flags and server wiring into unit tests.
set -o errexit -o nounset -o pipefail

SCRIPT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "${SCRIPT_ROOT}"

module=$(go list -m)
lower=(./pkg/registry/... ./pkg/controller/...)
forbidden="^${module}/(pkg/apiserver|cmd)(/|$)"

# .Deps lists every package a package depends on, directly or not; -test adds
# the packages' tests (as "pkg [pkg.test]") with what they import.
# go list runs on its own first so that a failure (an import cycle, a
# missing package) stops the script instead of reading as "no violations".
listing=$(go list -test -f '{{.ImportPath}} {{join .Deps " "}}' "${lower[@]}" |
    sed 's/ \[[^]]*\]//g')
failed=0
while read -r pkg deps; do
    if bad=$(tr ' ' '\n' <<<"${deps}" | grep -E "${forbidden}"); then
        echo "${pkg} imports the server assembly: $(sort -u <<<"${bad}" | tr '\n' ' ')" >&2
        failed=1
    fi
done <<<"${listing}"

if [[ ${failed} -ne 0 ]]; then
    echo "packages under pkg/registry and pkg/controller must not import pkg/apiserver or cmd/...: move what they need into a package both can import (pkg/api, for example)" >&2
    exit 1
fi
echo "pkg/registry and pkg/controller do not import pkg/apiserver or cmd/..."
