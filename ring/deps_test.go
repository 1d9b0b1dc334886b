package ring

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps ring pure: it must not depend, even indirectly,
// on any other dynkv package, nor on the standard library's I/O, network
// or clock packages. (fmt is avoided for the same reason: it pulls in os.)
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	forbidden := map[string]bool{"os": true, "time": true, "net": true, "fmt": true}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "github.com/dynkv/dynkv/") && dep != "github.com/dynkv/dynkv/ring" {
			t.Errorf("ring depends on project package %s", dep)
		}
		if forbidden[dep] || strings.HasPrefix(dep, "net/") || strings.HasPrefix(dep, "os/") {
			t.Errorf("ring depends on %s", dep)
		}
	}
}
