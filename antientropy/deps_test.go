package antientropy

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps antientropy pure: it must not depend, even
// indirectly, on any other dynkv package, nor on the standard library's
// file, process or network packages (fmt is avoided too: it pulls in os).
// Time enters only as values passed in; time.Now is kept out by review and
// by TestNoWallClock.
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	forbidden := map[string]bool{"os": true, "net": true, "fmt": true}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "github.com/dynkv/dynkv/") && dep != "github.com/dynkv/dynkv/antientropy" {
			t.Errorf("antientropy depends on project package %s", dep)
		}
		if forbidden[dep] || strings.HasPrefix(dep, "net/") || strings.HasPrefix(dep, "os/") {
			t.Errorf("antientropy depends on %s", dep)
		}
	}
}

// TestNoWallClock checks that the package's own code never reads the clock
// or sleeps: time is always passed in.
func TestNoWallClock(t *testing.T) {
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	banned := []string{"time.Now(", "time.Since(", "time.Until(", "time.Sleep(", "time.After(",
		"time.AfterFunc(", "time.NewTimer(", "time.NewTicker(", "time.Tick("}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range banned {
			if strings.Contains(string(src), b) {
				t.Errorf("%s calls %s", name, b)
			}
		}
	}
}
