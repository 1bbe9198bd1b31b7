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

# Functions for scripts that read files out of a Go module (for example
# kube_codegen.sh from k8s.io/code-generator). Source it; do not run it.
#
# Building the project never downloads modules it does not import, so a
# module directory exists in the module cache only if something put it
# there. Every script that needs one asks archon::modules::dir, which
# downloads first; hack/verify-modules.sh fails on any other lookup.

# archon::modules::dir prints the directory of MODULE at the version go.mod
# pins, downloading it into the module cache first. Run it from the module
# whose go.mod pins MODULE.
archon::modules::dir() {
    local module=$1 dir
    go mod download "${module}" || {
        echo "cannot download ${module}: check network access to the Go module proxy (GOPROXY)" >&2
        return 1
    }
    dir=$(go list -m -f '{{.Dir}}' "${module}")
    if [[ -z ${dir} || ! -d ${dir} ]]; then
        echo "${module} is not in the module cache after downloading it (GOMODCACHE=$(go env GOMODCACHE))" >&2
        return 1
    fi
    echo "${dir}"
}
