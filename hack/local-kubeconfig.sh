#!/usr/bin/env bash
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
