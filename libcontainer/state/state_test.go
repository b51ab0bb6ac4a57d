package state

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

func TestCreateSaveLoadList(t *testing.T) {
	s := &Store{Root: filepath.Join(t.TempDir(), "root")}
	h, err := s.Create("a")
	if err != nil {
		t.Fatal(err)
	}
	want := &State{ID: "a", InitPid: 42, Bundle: "/b"}
	if err := h.Save(want); err != nil {
		t.Fatal(err)
	}
	h.Unlock()
	if _, err := s.Create("a"); err == nil || !strings.Contains(err.Error(), "container with id exists: a") {
		t.Fatalf("duplicate create: %v", err)
	}
	got, err := s.Load("a")
	if err != nil {
		t.Fatal(err)
	}
	if got.InitPid != 42 || got.Bundle != "/b" {
		t.Fatalf("loaded %+v", got)
	}
	// A directory without state.json (a create that died) is not listed.
	os.Mkdir(s.Dir("half"), 0o700)
	ids, err := s.List()
	if err != nil || !reflect.DeepEqual(ids, []string{"a"}) {
		t.Fatalf("list = %v, %v", ids, err)
	}
	// No temporary files remain after saves.
	entries, _ := os.ReadDir(s.Dir("a"))
	if len(entries) != 1 {
		t.Fatalf("container dir holds %d entries, want only state.json", len(entries))
	}
}

func TestLookupsRejectPathIDs(t *testing.T) {
	s := &Store{Root: t.TempDir()}
	for _, id := range []string{"../etc", "..", ".", "a/b", ""} {
		if _, err := s.Load(id); !errors.Is(err, ErrNotExist) {
			t.Errorf("Load(%q) = %v, want ErrNotExist", id, err)
		}
		if _, err := s.Open(id); !errors.Is(err, ErrNotExist) {
			t.Errorf("Open(%q) = %v, want ErrNotExist", id, err)
		}
	}
}

func TestLockSerialises(t *testing.T) {
	s := &Store{Root: t.TempDir()}
	h, err := s.Create("c")
	if err != nil {
		t.Fatal(err)
	}
	h.Save(&State{ID: "c"})
	h.Unlock()
	// Concurrent read-modify-write under the lock loses no update.
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, err := s.Open("c")
			if err != nil {
				t.Error(err)
				return
			}
			defer h.Unlock()
			st, _ := s.Load("c")
			st.InitPid++
			h.Save(st)
		}()
	}
	wg.Wait()
	st, _ := s.Load("c")
	if st.InitPid != 20 {
		t.Fatalf("InitPid = %d after 20 locked increments", st.InitPid)
	}
}
