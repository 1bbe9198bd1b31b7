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
# Fails when a Go file or shell script lacks the license header of
# hack/boilerplate.go.txt. Go files carry it as written there, after any
# build constraints; shell scripts carry the same text as # comments, after
# the #! line. Generated files pass because the generators are given the
# same header.
set -o errexit -o nounset -o pipefail

SCRIPT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "${SCRIPT_ROOT}"

go_header=$(cat hack/boilerplate.go.txt)
# The same text for shell: drop the /* */ lines, put "# " before the rest.
sh_header=$(sed -e '/^\/\*$/d' -e '/^\*\/$/d' -e 's/^/# /' -e 's/^# $/#/' <<<"${go_header}")
go_lines=$(wc -l <<<"${go_header}")
sh_lines=$(wc -l <<<"${sh_header}")

# Tracked files and new ones git does not ignore; _output and the like stay out.
mapfile -t go_files < <(git ls-files --cached --others --exclude-standard -- '*.go')
mapfile -t sh_files < <(git ls-files --cached --others --exclude-standard -- '*.sh' .ci/run)

missing=()
for f in "${go_files[@]}"; do
    [[ -f ${f} ]] || continue
    # Skip the build constraints and blank lines that may precede the header.
    if [[ $(awk 'body || !/^(\/\/go:build|\/\/ \+build|$)/ { body = 1; print }' "${f}" |
        head -n "${go_lines}") != "${go_header}" ]]; then
        missing+=("${f}")
    fi
done
for f in "${sh_files[@]}"; do
    [[ -f ${f} ]] || continue
    if [[ $(sed -e '1{/^#!/d}' "${f}" | head -n "${sh_lines}") != "${sh_header}" ]]; then
        missing+=("${f}")
    fi
done

if [[ ${#missing[@]} -ne 0 ]]; then
    printf '%s\n' "${missing[@]}" >&2
    echo "the files above lack the license header: start Go files with hack/boilerplate.go.txt (after build constraints) and shell scripts with the same text as # comments (after the #! line)" >&2
    exit 1
fi
echo "all ${#go_files[@]} Go files and ${#sh_files[@]} shell scripts carry the license header"
