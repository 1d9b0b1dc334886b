package vclock

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps vclock pure logic: nothing of the project, no
// networking anywhere in its dependency graph, and no direct use of the
// operating system or the clock (fmt and msgpack pull os and time in
// transitively; vclock must not call them itself).
func TestDependencies(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go command not found:", err)
	}
	const self = "github.com/dynkv/dynkv/vclock"
	for _, dep := range goList(t, "-deps", ".") {
		switch {
		case dep == self:
		case strings.HasPrefix(dep, "github.com/dynkv/dynkv"):
			t.Errorf("vclock depends on project package %s", dep)
		case dep == "net" || strings.HasPrefix(dep, "net/"):
			t.Errorf("vclock depends on %s", dep)
		case strings.Contains(strings.Split(dep, "/")[0], ".") && !strings.HasPrefix(dep, "github.com/vmihailenco/"):
			t.Errorf("vclock depends on third-party %s; only msgpack is allowed", dep)
		}
	}
	for _, imp := range goList(t, "-f", `{{join .Imports "\n"}}`, ".") {
		if imp == "os" || imp == "time" || strings.HasPrefix(imp, "os/") {
			t.Errorf("vclock imports %s", imp)
		}
	}
}

func goList(t *testing.T, args ...string) []string {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list"}, args...)...).Output()
	if ee, ok := err.(*exec.ExitError); ok {
		t.Fatalf("go list %v: %v\n%s", args, err, ee.Stderr)
	} else if err != nil {
		t.Fatalf("go list %v: %v", args, err)
	}
	return strings.Fields(string(out))
}
