#!/usr/bin/env bash
# Builds the real control plane the `cluster` tests run on: kube-apiserver, kube-controller-manager and
# kube-scheduler (k8s/), etcd (etcd/) and kwok (kwok/), each from its own Go module so that their
# Kubernetes libraries are not mixed. The binaries go to a cache outside the work tree,
#   ${MLPLATFORM_CLUSTER_CACHE:-$HOME/.cache/mlplatform-cluster}/<versions>-<hash of the build files>/bin,
# and nothing is built when they are already there. Prints that bin directory on stdout (progress and
# the time each piece took go to stderr, and to build-times.txt beside bin/).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# The version go.mod pins module $2 at ("require M V" or "M V" in a require block).
pinned() { awk -v m="$2" '$1 == "require" { $1 = "" ; $0 = $0 } $1 == m && $2 ~ /^v/ { print $2; exit }' "$here/$1/go.mod"; }
k8s=$(pinned k8s k8s.io/kubernetes)
etcd=$(pinned etcd go.etcd.io/etcd/server/v3)
kwok=$(pinned kwok sigs.k8s.io/kwok)
files_hash=$(cd "$here" && find build.sh k8s etcd kwok -type f \( -name '*.go' -o -name 'go.mod' -o -name 'go.sum' -o -name '*.sh' \) |
	LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-12)
key="k8s-$k8s-etcd-$etcd-kwok-$kwok-$files_hash"
cache="${MLPLATFORM_CLUSTER_CACHE:-$HOME/.cache/mlplatform-cluster}/$key"
bin="$cache/bin"
binaries=(kube-apiserver kube-controller-manager kube-scheduler etcd kwok)

complete() { for b in "${binaries[@]}"; do [ -x "$bin/$b" ] || return 1; done; }
if complete; then
	echo "$bin"
	exit 0
fi

mkdir -p "$cache"
# One build at a time per key (two test runs may start together); the second reuses the first's.
exec 9>"$cache/.lock"
flock 9
if complete; then
	echo "$bin"
	exit 0
fi

# Exit status 3: no Go here, so the tests that need the binaries skip (tests/cluster/__init__.py).
command -v go >/dev/null || { echo "build.sh: go is not on PATH (Go 1.26 or newer is needed)" >&2; exit 3; }
staging="$cache/bin.partial"
rm -rf "$staging" && mkdir -p "$staging"
times="$cache/build-times.txt"
: >"$times"
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -trimpath -buildvcs=false"

# The Go build runs at the lowest priority: the machines that build this also run other tests.
piece() {
	local name=$1 dir=$2
	shift 2
	local start=$SECONDS
	echo "build.sh: building $name in tests/cluster/$dir ..." >&2
	(cd "$here/$dir" && nice -n 19 go build "$@")
	echo "$name $((SECONDS - start))s" | tee -a "$times" >&2
}

minor=${k8s#v1.}
minor=${minor%%.*}
version_flags="-X k8s.io/component-base/version.gitVersion=$k8s -X k8s.io/component-base/version.gitMajor=1"
version_flags+=" -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
# The three Kubernetes binaries in one go build: most of their packages are shared.
piece "kube-apiserver kube-controller-manager kube-scheduler ($k8s)" k8s -o "$staging/" -ldflags "-s -w $version_flags" \
	k8s.io/kubernetes/cmd/kube-apiserver ./cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler
piece "etcd ($etcd)" etcd -o "$staging/etcd" -ldflags "-s -w" go.etcd.io/etcd/server/v3
piece "kwok ($kwok)" kwok -o "$staging/kwok" -ldflags "-s -w" sigs.k8s.io/kwok/cmd/kwok

echo "total ${SECONDS}s" | tee -a "$times" >&2
rm -rf "$bin" && mv "$staging" "$bin"
echo "$bin"
