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

# Fails when a script would read a Go module's directory that nothing
# downloaded: on a fresh machine such a lookup prints nothing and the script
# goes on with an empty path (this is how make verify once failed on a new
# machine while passing on every warm one).
#
# 1. No script looks a module directory up except through
#    archon::modules::dir (hack/lib/modules.sh).
# 2. Every module the scripts look up resolves through archon::modules::dir
#    with an empty module cache. The modules come from the current cache's
#    downloads when they are there, so this costs no network on a warm
#    machine.
set -o errexit -o nounset -o pipefail

SCRIPT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "${SCRIPT_ROOT}"

scripts=(Makefile .ci/* hack/*.sh hack/lib/*.sh)

# 1. Other ways to reach into the module cache: go list -m with .Dir, the
# cache's own path, or GOMODCACHE.
if grep -nE "go list -m.*\.Dir|GOMODCACHE|/pkg/mod(/|\b)|go env GOPATH" "${scripts[@]}" |
    grep -vE '^(hack/lib/modules\.sh|hack/verify-modules\.sh):'; then
    echo "the lines above read the Go module cache directly; use archon::modules::dir from hack/lib/modules.sh, which downloads first" >&2
    exit 1
fi

# 2. Each module named to archon::modules::dir, in a new empty module cache.
mapfile -t modules < <(grep -ohE 'archon::modules::dir [A-Za-z0-9.~_-]+(/[A-Za-z0-9.~_-]+)+' \
    "${scripts[@]}" | awk '{print $2}' | sort -u)
if [[ ${#modules[@]} -eq 0 ]]; then
    echo "no script names a module to archon::modules::dir; nothing to check"
    exit 0
fi

warm_cache=$(go env GOMODCACHE)
empty_cache=$(mktemp -d)
trap 'GOMODCACHE="${empty_cache}" go clean -modcache 2>/dev/null; rm -rf "${empty_cache}"' EXIT

# shellcheck source=hack/lib/modules.sh
source hack/lib/modules.sh
for module in "${modules[@]}"; do
    if ! dir=$(GOMODCACHE="${empty_cache}" GOFLAGS=-mod=mod \
        GOPROXY="file://${warm_cache}/cache/download,$(go env GOPROXY)" \
        archon::modules::dir "${module}"); then
        echo "${module} cannot be looked up on a machine whose module cache is empty" >&2
        exit 1
    fi
    case ${dir} in
    "${empty_cache}"/*) ;;
    *)
        echo "${module} resolved to ${dir}, outside the empty module cache it was asked in" >&2
        exit 1
        ;;
    esac
done
echo "module lookups download what they read: ${modules[*]}"
