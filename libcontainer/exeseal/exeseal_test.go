package exeseal

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// The handle must read as our binary and refuse every way of writing to it
// through /proc/self/fd (what /proc/<pid>/exe of an init resolves to).
func TestHandleIsReadOnlyCopyOfSelf(t *testing.T) {
	f, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	self, _ := os.Executable()
	want, _ := os.ReadFile(self)
	got, err := os.ReadFile(fmt.Sprintf("/proc/self/fd/%d", f.Fd()))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("handle content differs from the binary (err %v)", err)
	}
	w, err := os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", f.Fd()), os.O_WRONLY, 0)
	if err == nil {
		// A sealed memfd opens but refuses writes.
		_, err = w.Write([]byte("x"))
		w.Close()
	}
	if err == nil {
		t.Fatal("wrote to the runtime binary through its sealed handle")
	}
	if !errors.Is(err, unix.EROFS) && !errors.Is(err, unix.EPERM) {
		t.Logf("write refused with %v", err)
	}
}

func TestOverlayPathOnRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("overlay mounts need root")
	}
	self, _ := os.Executable()
	f, err := openViaOverlay(self)
	if err != nil {
		t.Fatalf("overlay seal failed, every start would copy the binary: %v", err)
	}
	f.Close()
}
