// Package nsenter links in the C constructor (nsenter.c) that puts a
// `rootlet init` process into its namespaces before the Go runtime starts.
// Import it for its side effect from the rootlet binary only.
package nsenter

// #cgo CFLAGS: -Wall -O2
import "C"

// EnvInitFD names the environment variable carrying the init socket's fd
// number. Its presence is what makes the constructor act.
const EnvInitFD = "_ROOTLET_INIT_FD"
