// Package caps applies the OCI process capability sets (bounding,
// effective, permitted, inheritable, ambient).
package caps
