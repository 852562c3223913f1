//go:build tools

// The upstream mains built as they are (go build k8s.io/kubernetes/cmd/...); this keeps them in go.sum.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
