package cgroups

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Cgroup v2 has no devices controller: device access is decided by a
// BPF_PROG_TYPE_CGROUP_DEVICE program attached to the cgroup. The kernel
// calls it with struct bpf_cgroup_dev_ctx { u32 access_type; u32 major;
// u32 minor; } where access_type = access<<16 | type.
const (
	bpfDevBlock = 1 // BPF_DEVCG_DEV_BLOCK
	bpfDevChar  = 2 // BPF_DEVCG_DEV_CHAR

	bpfAccMknod = 1 // BPF_DEVCG_ACC_MKNOD
	bpfAccRead  = 2 // BPF_DEVCG_ACC_READ
	bpfAccWrite = 4 // BPF_DEVCG_ACC_WRITE
)

func accessBits(access string) int32 {
	var bits int32
	for _, c := range access {
		switch c {
		case 'r':
			bits |= bpfAccRead
		case 'w':
			bits |= bpfAccWrite
		case 'm':
			bits |= bpfAccMknod
		}
	}
	return bits
}

// deviceFilter compiles the rules into a program with the semantics of the
// v1 device controller: the last matching rule decides, no match denies.
// An allow rule matches when it grants every access asked for; a deny rule
// matches when it covers any of them. The rules are emitted last first and
// each returns on a match; code after a rule that matches everything would
// be unreachable (which the verifier rejects), so generation stops there.
// One difference from v1: there a deny only edits an allow entry with the
// same type and numbers, so "deny c 1:5 w" after "allow c 1:* rwm" does
// nothing; here it denies writes to 1:5.
func deviceFilter(rules []deviceRule) asm.Instructions {
	// R2 = type, R3 = requested access, R4 = major, R5 = minor.
	insts := asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, 0, asm.Word),
		asm.Mov.Reg32(asm.R3, asm.R2),
		asm.RSh.Imm32(asm.R3, 16),
		asm.And.Imm32(asm.R2, 0xffff),
		asm.LoadMem(asm.R4, asm.R1, 4, asm.Word),
		asm.LoadMem(asm.R5, asm.R1, 8, asm.Word),
	}
	block := 0
	label := func(i int) string { return "rule_" + strconv.Itoa(i) }
	for i := len(rules) - 1; i >= 0; i-- {
		r := rules[i]
		next := label(block + 1)
		var body asm.Instructions
		if r.Type != 'a' {
			t := int32(bpfDevChar)
			if r.Type == 'b' {
				t = bpfDevBlock
			}
			body = append(body, asm.JNE.Imm(asm.R2, t, next))
		}
		if acc := accessBits(r.Access); acc != bpfAccMknod|bpfAccRead|bpfAccWrite {
			body = append(body, asm.Mov.Reg32(asm.R1, asm.R3))
			if r.Allow {
				// Skip unless (requested & ~granted) == 0.
				body = append(body,
					asm.And.Imm32(asm.R1, ^acc&7),
					asm.JNE.Imm(asm.R1, 0, next))
			} else {
				// Skip unless requested & denied != 0.
				body = append(body,
					asm.And.Imm32(asm.R1, acc),
					asm.JEq.Imm(asm.R1, 0, next))
			}
		}
		if r.Major != -1 {
			body = append(body, asm.JNE.Imm(asm.R4, int32(r.Major), next))
		}
		if r.Minor != -1 {
			body = append(body, asm.JNE.Imm(asm.R5, int32(r.Minor), next))
		}
		verdict := int32(0)
		if r.Allow {
			verdict = 1
		}
		unconditional := len(body) == 0
		body = append(body, asm.Mov.Imm(asm.R0, verdict), asm.Return())
		body[0] = body[0].WithSymbol(label(block))
		insts = append(insts, body...)
		block++
		if unconditional {
			return insts
		}
	}
	// The label the last rule skips to: deny.
	return append(insts,
		asm.Mov.Imm(asm.R0, 0).WithSymbol(label(block)),
		asm.Return())
}

// loadDeviceFilter compiles and loads the program for the spec's rules.
func loadDeviceFilter(specRules []specs.LinuxDeviceCgroup) (*ebpf.Program, error) {
	rules, err := normalizeDeviceRules(specRules)
	if err != nil {
		return nil, err
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "rootlet_devices",
		Type:         ebpf.CGroupDevice,
		Instructions: deviceFilter(rules),
		License:      "Apache",
	})
	if err != nil {
		return nil, fmt.Errorf("load device filter: %w", err)
	}
	return prog, nil
}

// attachDeviceFilter installs the program for the rules on the cgroup dir,
// then detaches the programs that were there (from an earlier Set). With
// BPF_F_ALLOW_MULTI every attached program must allow an access, so during
// the swap the device set only narrows, never widens.
func attachDeviceFilter(dir string, specRules []specs.LinuxDeviceCgroup) error {
	prog, err := loadDeviceFilter(specRules)
	if err != nil {
		return err
	}
	defer prog.Close()
	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open cgroup %s: %w", dir, err)
	}
	defer unix.Close(fd)

	old, err := link.QueryPrograms(link.QueryOptions{Target: fd, Attach: ebpf.AttachCGroupDevice})
	if err != nil {
		return fmt.Errorf("query device filters of %s: %w", dir, err)
	}
	if err := link.RawAttachProgram(link.RawAttachProgramOptions{
		Target:  fd,
		Program: prog,
		Attach:  ebpf.AttachCGroupDevice,
		Flags:   unix.BPF_F_ALLOW_MULTI,
	}); err != nil {
		return fmt.Errorf("attach device filter to %s: %w", dir, err)
	}
	var errs []error
	for _, p := range old.Programs {
		oldProg, err := ebpf.NewProgramFromID(p.ID)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		err = link.RawDetachProgram(link.RawDetachProgramOptions{
			Target:  fd,
			Program: oldProg,
			Attach:  ebpf.AttachCGroupDevice,
		})
		oldProg.Close()
		if err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("detach old device filter from %s: %w", dir, err)
	}
	return nil
}
