// Package signals parses signal names and numbers the way runc's kill does.
package signals
