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

# Writes a kubeconfig for USER in GROUPs of the local control plane (a client
# certificate signed by its client CA) and prints its path:
#   hack/local-kubeconfig.sh alice developers
set -o errexit -o nounset -o pipefail

if [ $# -lt 1 ]; then
    echo "usage: $0 USER [GROUP...]" >&2
    exit 2
fi
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "${ROOT}"
make --no-print-directory -s _output/bin/archon-local >&2
exec _output/bin/archon-local --dir _output/local kubeconfig "$@"
