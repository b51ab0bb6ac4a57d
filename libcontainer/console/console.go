// Package console makes pseudo-terminals for containers and passes their
// master side to the caller over an AF_UNIX --console-socket (SCM_RIGHTS).
package console
