package rootfs

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// mountOpts is one spec mount's option list, split by what the kernel
// needs: mount(2) flags, flags the options explicitly clear, propagation
// changes, recursive attributes (mount_setattr) and the fs-specific data.
type mountOpts struct {
	flags       uintptr   // MS_* flags set by options (ro, nosuid, bind, ...)
	cleared     uintptr   // MS_* flags cleared by options (rw, suid, dev, ...)
	propagation []uintptr // MS_SHARED/MS_SLAVE/... (|MS_REC), in order
	recAttr     unix.MountAttr
	data        []string // options the kernel gets as the data string
	tmpcopyup   bool
}

type flagOpt struct {
	clear bool
	flag  uintptr
}

// mountFlagOptions are the options mount(8) turns into MS_* flags.
var mountFlagOptions = map[string]flagOpt{
	"acl":           {false, unix.MS_POSIXACL},
	"async":         {true, unix.MS_SYNCHRONOUS},
	"atime":         {true, unix.MS_NOATIME},
	"bind":          {false, unix.MS_BIND},
	"defaults":      {false, 0},
	"dev":           {true, unix.MS_NODEV},
	"diratime":      {true, unix.MS_NODIRATIME},
	"dirsync":       {false, unix.MS_DIRSYNC},
	"exec":          {true, unix.MS_NOEXEC},
	"iversion":      {false, unix.MS_I_VERSION},
	"lazytime":      {false, unix.MS_LAZYTIME},
	"loud":          {true, unix.MS_SILENT},
	"mand":          {false, unix.MS_MANDLOCK},
	"noacl":         {true, unix.MS_POSIXACL},
	"noatime":       {false, unix.MS_NOATIME},
	"nodev":         {false, unix.MS_NODEV},
	"nodiratime":    {false, unix.MS_NODIRATIME},
	"noexec":        {false, unix.MS_NOEXEC},
	"noiversion":    {true, unix.MS_I_VERSION},
	"nolazytime":    {true, unix.MS_LAZYTIME},
	"nomand":        {true, unix.MS_MANDLOCK},
	"norelatime":    {true, unix.MS_RELATIME},
	"nostrictatime": {true, unix.MS_STRICTATIME},
	"nosuid":        {false, unix.MS_NOSUID},
	"nosymfollow":   {false, unix.MS_NOSYMFOLLOW},
	"rbind":         {false, unix.MS_BIND | unix.MS_REC},
	"relatime":      {false, unix.MS_RELATIME},
	"remount":       {false, unix.MS_REMOUNT},
	"ro":            {false, unix.MS_RDONLY},
	"rw":            {true, unix.MS_RDONLY},
	"silent":        {false, unix.MS_SILENT},
	"strictatime":   {false, unix.MS_STRICTATIME},
	"suid":          {true, unix.MS_NOSUID},
	"symfollow":     {true, unix.MS_NOSYMFOLLOW},
	"sync":          {false, unix.MS_SYNCHRONOUS},
}

var propagationOptions = map[string]uintptr{
	"private":     unix.MS_PRIVATE,
	"rprivate":    unix.MS_PRIVATE | unix.MS_REC,
	"shared":      unix.MS_SHARED,
	"rshared":     unix.MS_SHARED | unix.MS_REC,
	"slave":       unix.MS_SLAVE,
	"rslave":      unix.MS_SLAVE | unix.MS_REC,
	"unbindable":  unix.MS_UNBINDABLE,
	"runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

// recursiveAttrOptions are runc's "r"-prefixed options, applied to the whole
// mount tree with mount_setattr(AT_RECURSIVE).
var recursiveAttrOptions = map[string]struct {
	clear bool
	attr  uint64
}{
	"rro":            {false, unix.MOUNT_ATTR_RDONLY},
	"rrw":            {true, unix.MOUNT_ATTR_RDONLY},
	"rnosuid":        {false, unix.MOUNT_ATTR_NOSUID},
	"rsuid":          {true, unix.MOUNT_ATTR_NOSUID},
	"rnodev":         {false, unix.MOUNT_ATTR_NODEV},
	"rdev":           {true, unix.MOUNT_ATTR_NODEV},
	"rnoexec":        {false, unix.MOUNT_ATTR_NOEXEC},
	"rexec":          {true, unix.MOUNT_ATTR_NOEXEC},
	"rnodiratime":    {false, unix.MOUNT_ATTR_NODIRATIME},
	"rdiratime":      {true, unix.MOUNT_ATTR_NODIRATIME},
	"rrelatime":      {false, unix.MOUNT_ATTR_RELATIME},
	"rnorelatime":    {true, unix.MOUNT_ATTR_RELATIME},
	"rnoatime":       {false, unix.MOUNT_ATTR_NOATIME},
	"ratime":         {true, unix.MOUNT_ATTR_NOATIME},
	"rstrictatime":   {false, unix.MOUNT_ATTR_STRICTATIME},
	"rnostrictatime": {true, unix.MOUNT_ATTR_STRICTATIME},
	"rnosymfollow":   {false, unix.MOUNT_ATTR_NOSYMFOLLOW},
	"rsymfollow":     {true, unix.MOUNT_ATTR_NOSYMFOLLOW},
}

func parseMountOptions(options []string) (*mountOpts, error) {
	o := &mountOpts{}
	for _, opt := range options {
		if f, ok := mountFlagOptions[opt]; ok {
			if f.clear {
				o.flags &^= f.flag
				o.cleared |= f.flag
			} else {
				o.flags |= f.flag
				o.cleared &^= f.flag
			}
			continue
		}
		if p, ok := propagationOptions[opt]; ok {
			o.propagation = append(o.propagation, p)
			continue
		}
		if r, ok := recursiveAttrOptions[opt]; ok {
			isAtime := r.attr&unix.MOUNT_ATTR__ATIME != 0 || r.attr == unix.MOUNT_ATTR_RELATIME
			switch {
			case isAtime:
				// The atime mode is one field: clearing any mode means
				// falling back to the kernel default, relatime.
				o.recAttr.Attr_clr |= unix.MOUNT_ATTR__ATIME
				o.recAttr.Attr_set &^= unix.MOUNT_ATTR__ATIME
				if !r.clear {
					o.recAttr.Attr_set |= r.attr
				}
			case r.clear:
				o.recAttr.Attr_clr |= r.attr
				o.recAttr.Attr_set &^= r.attr
			default:
				o.recAttr.Attr_set |= r.attr
				o.recAttr.Attr_clr &^= r.attr
			}
			continue
		}
		switch opt {
		case "tmpcopyup":
			o.tmpcopyup = true
			continue
		case "idmap", "ridmap":
			return nil, fmt.Errorf("mount option %q is not supported", opt)
		}
		o.data = append(o.data, opt)
	}
	return o, nil
}

func (o *mountOpts) dataString() string { return strings.Join(o.data, ",") }

func (o *mountOpts) hasRecAttr() bool {
	return o.recAttr.Attr_set != 0 || o.recAttr.Attr_clr != 0
}

// bindAttr translates the per-mount flags of a bind mount into
// mount_setattr attributes. Only what the options name is changed, so flags
// inherited from the source (and locked in a user namespace) stay as they are.
func (o *mountOpts) bindAttr() unix.MountAttr {
	var a unix.MountAttr
	pairs := []struct {
		ms   uintptr
		attr uint64
	}{
		{unix.MS_RDONLY, unix.MOUNT_ATTR_RDONLY},
		{unix.MS_NOSUID, unix.MOUNT_ATTR_NOSUID},
		{unix.MS_NODEV, unix.MOUNT_ATTR_NODEV},
		{unix.MS_NOEXEC, unix.MOUNT_ATTR_NOEXEC},
		{unix.MS_NODIRATIME, unix.MOUNT_ATTR_NODIRATIME},
		{unix.MS_NOSYMFOLLOW, unix.MOUNT_ATTR_NOSYMFOLLOW},
	}
	for _, p := range pairs {
		if o.flags&p.ms != 0 {
			a.Attr_set |= p.attr
		} else if o.cleared&p.ms != 0 {
			a.Attr_clr |= p.attr
		}
	}
	switch {
	case o.flags&unix.MS_NOATIME != 0:
		a.Attr_clr |= unix.MOUNT_ATTR__ATIME
		a.Attr_set |= unix.MOUNT_ATTR_NOATIME
	case o.flags&unix.MS_STRICTATIME != 0:
		a.Attr_clr |= unix.MOUNT_ATTR__ATIME
		a.Attr_set |= unix.MOUNT_ATTR_STRICTATIME
	case o.flags&unix.MS_RELATIME != 0, o.cleared&(unix.MS_NOATIME|unix.MS_STRICTATIME) != 0:
		a.Attr_clr |= unix.MOUNT_ATTR__ATIME
		a.Attr_set |= unix.MOUNT_ATTR_RELATIME
	}
	return a
}

// rootPropagation maps linux.rootfsPropagation to mount flags; "" means the
// default, rslave.
func rootPropagation(p string) (uintptr, error) {
	if p == "" {
		return unix.MS_SLAVE | unix.MS_REC, nil
	}
	f, ok := propagationOptions[p]
	if !ok {
		return 0, fmt.Errorf("invalid rootfsPropagation %q", p)
	}
	return f, nil
}
