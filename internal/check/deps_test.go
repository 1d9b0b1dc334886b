package check

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps check pure logic: of the project only vclock, no
// third-party packages of its own, nothing that does I/O or networking.
// (vclock brings in msgpack, and fmt brings in os, transitively; check must
// not import them itself.)
func TestDependencies(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go command not found:", err)
	}
	out, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, ".").Output()
	if ee, ok := err.(*exec.ExitError); ok {
		t.Fatalf("go list: %v\n%s", err, ee.Stderr)
	} else if err != nil {
		t.Fatalf("go list: %v", err)
	}
	allowed := map[string]bool{
		"github.com/dynkv/dynkv/vclock": true,
		"cmp":                           true, "errors": true, "fmt": true, "maps": true, "slices": true, "strconv": true, "strings": true, "time": true,
	}
	for _, imp := range strings.Fields(string(out)) {
		if !allowed[imp] {
			t.Errorf("check imports %s; it must stay pure logic (see doc.go)", imp)
		}
	}
}
