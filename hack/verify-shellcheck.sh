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
# Runs shellcheck on every script: hack/*.sh, hack/lib/*.sh and .ci/run.
#
# Debian packages shellcheck (it is not a Go module), so it cannot be pinned in
# hack/tools. When it is not on PATH the script fetches Debian's package into
# _output/tools without root (apt-get download, then dpkg-deb -x), so make
# verify needs nothing installed by hand. Set SHELLCHECK to use another
# binary.
set -o errexit -o nounset -o pipefail

SCRIPT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "${SCRIPT_ROOT}"

TOOLS_DIR="${SCRIPT_ROOT}/_output/tools"

# fetch_shellcheck unpacks Debian's shellcheck package into
# _output/tools/shellcheck and prints the binary's path.
fetch_shellcheck() {
    local dest="${TOOLS_DIR}/shellcheck" work
    if [[ -x ${dest}/usr/bin/shellcheck ]]; then
        echo "${dest}/usr/bin/shellcheck"
        return
    fi
    work=$(mktemp -d)
    # apt-get download needs no root, only the package lists. A machine that
    # never ran apt-get update has none: read fresh ones into a private
    # directory then, which needs no root either.
    # As root, apt hands downloads to its _apt user, which cannot write into
    # a private temporary directory: keep the download with the caller.
    local sandbox=(-o "APT::Sandbox::User=$(id -un)")
    if ! (cd "${work}" && apt-get "${sandbox[@]}" download shellcheck >&2); then
        echo "apt-get download shellcheck failed; reading the package lists into ${TOOLS_DIR}/apt" >&2
        mkdir -p "${TOOLS_DIR}/apt/lists/partial" "${TOOLS_DIR}/apt/cache/archives/partial"
        local apt_opts=("${sandbox[@]}" -o "Dir::State::Lists=${TOOLS_DIR}/apt/lists"
            -o "Dir::Cache=${TOOLS_DIR}/apt/cache" -o Debug::NoLocking=1)
        apt-get "${apt_opts[@]}" update >&2
        (cd "${work}" && apt-get "${apt_opts[@]}" download shellcheck >&2) || {
            echo "cannot download Debian's shellcheck package: install it (apt-get install shellcheck) or set SHELLCHECK" >&2
            rm -rf "${work}"
            return 1
        }
    fi
    rm -rf "${dest}"
    mkdir -p "${dest}"
    dpkg-deb -x "${work}"/shellcheck_*.deb "${dest}"
    rm -rf "${work}"
    echo "${dest}/usr/bin/shellcheck"
}

if [[ -z ${SHELLCHECK:-} ]]; then
    SHELLCHECK=$(command -v shellcheck || fetch_shellcheck)
fi

scripts=(hack/*.sh hack/lib/*.sh .ci/run)
"${SHELLCHECK}" --external-sources "${scripts[@]}"
echo "shellcheck ($("${SHELLCHECK}" --version | sed -n 's/^version: //p')) finds nothing in ${#scripts[@]} scripts"
