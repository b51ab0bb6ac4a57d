// Package specconv loads and validates an OCI bundle's config.json, and makes
// the default spec for `rootlet spec`.
//
// Error strings follow runc's wording where runc has one, because container
// managers and their tests match on them.
package specconv

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ConfigFile is the name of the spec inside a bundle.
const ConfigFile = "config.json"

// ErrInvalidID is returned by ValidID (wrapped, with the id) for ids that
// cannot name a container. runc's message starts the same way.
var ErrInvalidID = errors.New("invalid container ID format")

// Load reads <bundle>/config.json; bundle "" means the current directory.
// It only parses: call Validate before using the spec to create a container.
func Load(bundle string) (*specs.Spec, error) {
	data, err := os.ReadFile(filepath.Join(bundle, ConfigFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("JSON specification file %s not found", ConfigFile)
		}
		return nil, err
	}
	var spec *specs.Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		return nil, fmt.Errorf("failed to parse %s: %w", ConfigFile, err)
	}
	// The JSON literal null decodes without error into a nil pointer.
	if spec == nil {
		return nil, errors.New("config cannot be null")
	}
	return spec, nil
}

// ValidID checks a container id: one or more of [A-Za-z0-9_+.-], and not
// "." or "..", so that it is always a single safe path component.
func ValidID(id string) error {
	if id == "" {
		return errors.New("container id cannot be empty")
	}
	if id == "." || id == ".." {
		return fmt.Errorf("%w: %s", ErrInvalidID, id)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '_', c == '+', c == '-', c == '.':
		default:
			return fmt.Errorf("%w: %s", ErrInvalidID, id)
		}
	}
	return nil
}

// ResolveRootfs returns the absolute, symlink-free path of the container's
// root filesystem; root.path is relative to the bundle unless absolute.
func ResolveRootfs(spec *specs.Spec, bundle string) (string, error) {
	if spec == nil || spec.Root == nil {
		return "", errors.New("root must be specified")
	}
	path := rootfsPath(spec.Root.Path, bundle)
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("invalid rootfs: %w", err)
	}
	resolved, err := filepath.EvalSymlinks(abs)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("rootfs (%s) does not exist", abs)
		}
		return "", fmt.Errorf("invalid rootfs: %w", err)
	}
	return resolved, nil
}

// rootfsPath joins a relative root.path to the bundle.
func rootfsPath(root, bundle string) string {
	if filepath.IsAbs(root) {
		return root
	}
	return filepath.Join(bundle, root)
}
