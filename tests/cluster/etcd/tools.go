//go:build tools

// The etcd server main, built as it is; this keeps it in go.sum.
package tools

import _ "go.etcd.io/etcd/server/v3"
