package rootfs

import (
	"fmt"
	"strings"

	"github.com/cyphar/filepath-securejoin/pathrs-lite/procfs"
	"golang.org/x/sys/unix"
)

// WriteSysctls writes linux.sysctl into /proc/sys. The procfs comes from
// pathrs-lite (a private instance, or a checked /proc) so nothing mounted
// over the container's /proc can redirect the writes (CVE-2019-16884,
// CVE-2025-52881); each file is opened beneath /proc/sys with no symlink
// followed and no mount crossed.
func WriteSysctls(sysctls map[string]string) error {
	if len(sysctls) == 0 {
		return nil
	}
	proc, err := procfs.OpenProcRoot()
	if err != nil {
		return fmt.Errorf("open procfs: %w", err)
	}
	defer proc.Close()
	dir, err := proc.OpenRoot("sys")
	if err != nil {
		return fmt.Errorf("open /proc/sys: %w", err)
	}
	defer dir.Close()
	for key, value := range sysctls {
		rel := strings.ReplaceAll(key, ".", "/")
		if key == "" || strings.HasPrefix(rel, "/") || strings.Contains(key, "..") {
			return fmt.Errorf("invalid sysctl key %q", key)
		}
		fd, err := unix.Openat2(int(dir.Fd()), rel, &unix.OpenHow{
			Flags:   unix.O_WRONLY | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV,
		})
		if err != nil {
			return fmt.Errorf("unable to open sysctl %s: %w", key, err)
		}
		_, err = unix.Write(fd, []byte(value))
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("unable to write sysctl %s=%s: %w", key, value, err)
		}
	}
	return nil
}
