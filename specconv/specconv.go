// Package specconv loads and validates an OCI bundle's config.json, and makes
// the default spec for `rootlet spec`.
package specconv
