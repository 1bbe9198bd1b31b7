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

# Regenerates everything under pkg/generated/ and the zz_generated.* files
# with kube_codegen.sh from the code-generator version pinned in go.mod.
set -o errexit -o nounset -o pipefail

SCRIPT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "${SCRIPT_ROOT}"

# shellcheck source=hack/lib/modules.sh
source "${SCRIPT_ROOT}/hack/lib/modules.sh"
CODEGEN_PKG=$(archon::modules::dir k8s.io/code-generator)
# kube_codegen.sh installs its generators into GOBIN: keep them in the
# checkout rather than the user's own GOBIN.
export GOBIN="${ARCHON_CODEGEN_BIN:-${SCRIPT_ROOT}/_output/bin/codegen}"
# shellcheck source=/dev/null
source "${CODEGEN_PKG}/kube_codegen.sh"

THIS_PKG="github.com/acp-archon/archon"
BOILERPLATE="${SCRIPT_ROOT}/hack/boilerplate.go.txt"

kube::codegen::gen_helpers \
    --boilerplate "${BOILERPLATE}" \
    "${SCRIPT_ROOT}/pkg/apis"

kube::codegen::gen_openapi \
    --output-dir "${SCRIPT_ROOT}/pkg/generated/openapi" \
    --output-pkg "${THIS_PKG}/pkg/generated/openapi" \
    --output-model-name-file "zz_generated.model_name.go" \
    --report-filename "${SCRIPT_ROOT}/hack/api-rule-violations.list" \
    --update-report \
    --boilerplate "${BOILERPLATE}" \
    "${SCRIPT_ROOT}/pkg/apis"

kube::codegen::gen_client \
    --with-watch \
    --with-applyconfig \
    --applyconfig-openapi-schema <(go run "${THIS_PKG}/pkg/generated/openapi/cmd/models-schema") \
    --output-dir "${SCRIPT_ROOT}/pkg/generated" \
    --output-pkg "${THIS_PKG}/pkg/generated" \
    --boilerplate "${BOILERPLATE}" \
    "${SCRIPT_ROOT}/pkg/apis"
