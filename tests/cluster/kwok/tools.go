//go:build tools

// The kwok main, built as it is; this keeps it in go.sum.
package tools

import _ "sigs.k8s.io/kwok/cmd/kwok"
