package deploy

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"net"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// The test reads the deploy files and cmd/dynkv's source; nothing is built
// or run, so it takes milliseconds and needs neither Docker nor a cluster.
//
// The rule for flags: every --flag written in a deploy file (README and
// comments included) must be a flag of `dynkv serve`, except on a command
// line of another tool (docker, kubectl, ...; see foreignCommand) until a
// `serve` word starts a dynkv command line again, and except in Dockerfile
// instructions other than CMD and ENTRYPOINT. Every DYNKV_ variable must be
// the variable of a serve flag.

const (
	repoRoot  = ".."
	deployDir = "."
)

// serveCLI is what the deploy files may rely on about `dynkv serve`, read
// from the source of cmd/dynkv.
type serveCLI struct {
	command   string          // the subcommand's name: "serve"
	others    []string        // the binary's other subcommands
	flags     map[string]bool // every flag serve defines
	envPrefix string          // "DYNKV_": flag --data-dir is DYNKV_DATA_DIR
	vars      map[string]bool // package-level string variables of package main (for -ldflags -X)
	drain     time.Duration   // how long serve lets requests in flight finish after SIGTERM
}

func (c *serveCLI) envName(flag string) string {
	return c.envPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// flagOfEnv returns the flag a DYNKV_ variable sets, or "".
func (c *serveCLI) flagOfEnv(name string) string {
	for f := range c.flags {
		if c.envName(f) == name {
			return f
		}
	}
	return ""
}

// pflagDefiners maps each method of *pflag.FlagSet that defines a flag to
// the index of its name argument: String("name", ...), StringP("name", ...),
// StringVar(&v, "name", ...), StringVarP(&v, "name", ...), Var(value, "name", ...).
// It is derived from pflag itself, so a new flag type needs no change here.
func pflagDefiners() map[string]int {
	t := reflect.TypeFor[*pflag.FlagSet]()
	has := map[string]bool{}
	for i := range t.NumMethod() {
		has[t.Method(i).Name] = true
	}
	out := map[string]int{"Var": 1, "VarP": 1, "VarPF": 1}
	for m := range has {
		base, ok := strings.CutSuffix(m, "Var")
		if !ok || base == "" {
			continue
		}
		out[m] = 1
		if has[m+"P"] {
			out[m+"P"] = 1
		}
		for _, plain := range []string{base, base + "P"} {
			if has[plain] {
				out[plain] = 0
			}
		}
	}
	for _, m := range []string{"Func", "FuncP", "BoolFunc", "BoolFuncP"} {
		if has[m] {
			out[m] = 0
		}
	}
	return out
}

// loadServeCLI reads package main in dir: the function registered as the
// "serve" subcommand (a map literal entry "serve": runServe), every flag
// defined in it or in the package's functions it calls, the DYNKV_ prefix
// it builds variable names with, and the shutdown timeout it gives
// requests in flight.
func loadServeCLI(dir string) (*serveCLI, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	funcs := map[string]*ast.FuncDecl{}
	packages := map[string]bool{} // names of imported packages: slog.String("k", v) defines no flag
	var files []*ast.File
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
		for _, im := range f.Imports {
			name := path.Base(strings.Trim(im.Path.Value, `"`))
			if im.Name != nil {
				name = im.Name.Name
			}
			packages[name] = im.Path.Value != `"github.com/spf13/pflag"` // pflag.String defines one
		}
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil {
				funcs[fd.Name.Name] = fd
			}
		}
	}
	cli := &serveCLI{flags: map[string]bool{}, vars: map[string]bool{}}
	var serveFn *ast.FuncDecl
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			kv, ok := n.(*ast.KeyValueExpr)
			if !ok {
				return true
			}
			k, ok1 := kv.Key.(*ast.BasicLit)
			v, ok2 := kv.Value.(*ast.Ident)
			if !ok1 || !ok2 || k.Kind != token.STRING || funcs[v.Name] == nil {
				return true
			}
			name, _ := strconv.Unquote(k.Value)
			if name == "serve" {
				cli.command, serveFn = name, funcs[v.Name]
			} else {
				cli.others = append(cli.others, name)
			}
			return true
		})
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.VAR {
				continue
			}
			for _, s := range gd.Specs {
				vs := s.(*ast.ValueSpec)
				for i, id := range vs.Names {
					typ, ok := vs.Type.(*ast.Ident)
					isString := ok && typ.Name == "string"
					if vs.Type == nil && i < len(vs.Values) {
						lit, ok := vs.Values[i].(*ast.BasicLit)
						isString = ok && lit.Kind == token.STRING
					}
					if isString {
						cli.vars[id.Name] = true
					}
				}
			}
		}
	}
	if serveFn == nil {
		return nil, fmt.Errorf("%s: no \"serve\" subcommand (a map entry \"serve\": someFunc)", dir)
	}
	definers := pflagDefiners()
	prefixes := map[string]bool{}
	envPrefix := regexp.MustCompile(`^[A-Z][A-Z0-9]*_$`)
	seen := map[*ast.FuncDecl]bool{}
	var walk func(fd *ast.FuncDecl)
	walk = func(fd *ast.FuncDecl) {
		if seen[fd] {
			return
		}
		seen[fd] = true
		ast.Inspect(fd.Body, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.BasicLit:
				if s, err := strconv.Unquote(n.Value); err == nil && n.Kind == token.STRING && envPrefix.MatchString(s) {
					prefixes[s] = true
				}
			case *ast.CallExpr:
				switch fun := n.Fun.(type) {
				case *ast.Ident:
					if callee := funcs[fun.Name]; callee != nil {
						walk(callee)
					}
				case *ast.SelectorExpr:
					x, _ := fun.X.(*ast.Ident)
					if i, ok := definers[fun.Sel.Name]; ok && i < len(n.Args) && (x == nil || !packages[x.Name]) {
						if lit, ok := n.Args[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							name, _ := strconv.Unquote(lit.Value)
							cli.flags[name] = true
							// --shutdown-timeout's default is how long serve drains.
							if name == "shutdown-timeout" && i+1 < len(n.Args) {
								if d, ok := durationExpr(n.Args[i+1]); ok {
									cli.drain = max(cli.drain, d)
								}
							}
						}
					}
					if x != nil && fd == serveFn && x.Name == "context" && fun.Sel.Name == "WithTimeout" && len(n.Args) == 2 {
						if d, ok := durationExpr(n.Args[1]); ok {
							cli.drain = max(cli.drain, d)
						}
					}
				}
			}
			return true
		})
	}
	walk(serveFn)
	if len(cli.flags) < 10 {
		return nil, fmt.Errorf("%s: found only %d flags of serve (%v): has the way flags are defined changed? Teach loadServeCLI", dir, len(cli.flags), slices.Sorted(maps.Keys(cli.flags)))
	}
	if len(prefixes) != 1 {
		return nil, fmt.Errorf("%s: expected one environment prefix such as \"DYNKV_\" in serve's code, found %v", dir, prefixes)
	}
	for p := range prefixes {
		cli.envPrefix = p
	}
	return cli, nil
}

// durationExpr evaluates N*time.Unit (or time.Unit*N).
func durationExpr(e ast.Expr) (time.Duration, bool) {
	units := map[string]time.Duration{"Millisecond": time.Millisecond, "Second": time.Second, "Minute": time.Minute}
	b, ok := e.(*ast.BinaryExpr)
	if !ok || b.Op != token.MUL {
		return 0, false
	}
	lit, ok := b.X.(*ast.BasicLit)
	sel, ok2 := b.Y.(*ast.SelectorExpr)
	if !ok || !ok2 {
		lit, ok = b.Y.(*ast.BasicLit)
		sel, ok2 = b.X.(*ast.SelectorExpr)
	}
	if !ok || !ok2 || lit.Kind != token.INT {
		return 0, false
	}
	n, err := strconv.Atoi(lit.Value)
	unit, known := units[sel.Sel.Name]
	if err != nil || !known {
		return 0, false
	}
	return time.Duration(n) * unit, true
}

// cli reads serve's command line from cmd/dynkv.
func cli(t *testing.T) *serveCLI {
	t.Helper()
	c, err := loadServeCLI(filepath.Join(repoRoot, "cmd", "dynkv"))
	if err != nil {
		t.Fatal(err)
	}
	if c.drain == 0 {
		c.drain = 30 * time.Second
		t.Logf("no --shutdown-timeout default or context.WithTimeout(context.Background(), N*time.Second) in serve: assuming it drains for %s", c.drain)
	}
	return c
}

// ---- Flags and variables in every file ------------------------------------

// deployFiles returns every file under dir but the tests, by path relative
// to dir.
func deployFiles(dir string) (map[string]string, error) {
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, "_test.go") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	return out, err
}

type srcLine struct {
	n    int // first line number
	text string
}

// logicalLines joins lines that end in a backslash with the next.
func logicalLines(content string) []srcLine {
	var out []srcLine
	var cur strings.Builder
	start := 0
	for i, l := range strings.Split(strings.ReplaceAll(content, "\r\n", "\n"), "\n") {
		if cur.Len() == 0 {
			start = i + 1
		}
		if s, ok := strings.CutSuffix(strings.TrimRight(l, " \t"), `\`); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(l)
		out = append(out, srcLine{start, cur.String()})
		cur.Reset()
	}
	if cur.Len() > 0 {
		out = append(out, srcLine{start, cur.String()})
	}
	return out
}

var (
	flagToken = regexp.MustCompile("(?:^|[\\s\"'`\\[,(])--([a-zA-Z][a-zA-Z0-9-]*)")
	envToken  = regexp.MustCompile(`\bDYNKV_[A-Z0-9_]*[A-Z0-9]\b`)
	// foreignCommand starts a command line whose --flags are not dynkv's.
	foreignCommand = `(?:docker|kubectl|go|git|curl|wget|systemctl|journalctl|useradd|install|helm)\s`
	// dockerInstruction is a Dockerfile instruction; only CMD and
	// ENTRYPOINT carry dynkv's flags.
	dockerInstruction = regexp.MustCompile(`^\s*(FROM|RUN|COPY|ADD|ARG|ENV|USER|WORKDIR|VOLUME|EXPOSE|LABEL|STOPSIGNAL|HEALTHCHECK|SHELL|ONBUILD|MAINTAINER)\s`)
	// notFlagVariables are DYNKV_ names the files may mention that are not
	// settings: the variables Kubernetes service links would inject for a
	// Service named dynkv, named where the manifest turns them off.
	notFlagVariables = map[string]bool{"DYNKV_SERVICE_HOST": true, "DYNKV_SERVICE_PORT": true, "DYNKV_PORT": true}
)

// checkFlagsAndVariables reports every --flag and DYNKV_ variable in files
// that `dynkv serve` does not have.
func checkFlagsAndVariables(c *serveCLI, files map[string]string) []string {
	var problems []string
	others := regexp.QuoteMeta(strings.Join(c.others, "\x00"))
	others = strings.ReplaceAll(others, "\x00", "|")
	switches := regexp.MustCompile(`(?:^|[\s#$;&|(` + "`" + `"'\[])` + foreignCommand + `|\bdynkv\s+(?:` + others + `)\b|\b` + regexp.QuoteMeta(c.command) + `\b`)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		for _, l := range logicalLines(files[name]) {
			for _, v := range envToken.FindAllString(l.text, -1) {
				if c.flagOfEnv(v) == "" && !notFlagVariables[v] {
					problems = append(problems, fmt.Sprintf("%s:%d: %s is not the variable of any `dynkv %s` flag", name, l.n, v, c.command))
				}
			}
			if path.Base(name) == "Dockerfile" && dockerInstruction.MatchString(l.text) {
				continue
			}
			// Walk the line: a foreign command turns checking off, the
			// serve subcommand turns it back on.
			type mark struct {
				at    int
				check bool
			}
			var marks []mark
			for _, m := range switches.FindAllStringIndex(l.text, -1) {
				word := strings.TrimSpace(strings.TrimLeft(l.text[m[0]:m[1]], "#$;&|(`\"'["))
				marks = append(marks, mark{m[0], word == c.command})
			}
			for _, m := range flagToken.FindAllStringSubmatchIndex(l.text, -1) {
				check := true
				for _, mk := range marks {
					if mk.at <= m[0] {
						check = mk.check
					}
				}
				flag := l.text[m[2]:m[3]]
				if check && !c.flags[flag] && flag != "help" { // pflag's own
					problems = append(problems, fmt.Sprintf("%s:%d: --%s is not a flag of `dynkv %s`", name, l.n, flag, c.command))
				}
			}
		}
	}
	return problems
}

// ---- Dockerfile ---------------------------------------------------------------

type instruction struct {
	line  int
	cmd   string // upper case
	args  string
	stage int // 0 before the first FROM
}

func parseDockerfile(content string) []instruction {
	var out []instruction
	stage := 0
	var cur strings.Builder
	start := 0
	for i, l := range strings.Split(content, "\n") {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "#") {
			continue // comments may sit inside a continued instruction
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if s, ok := strings.CutSuffix(t, `\`); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(t)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		cmd = strings.ToUpper(cmd)
		if cmd == "FROM" {
			stage++
		}
		out = append(out, instruction{start, cmd, strings.TrimSpace(args), stage})
		cur.Reset()
	}
	return out
}

// execForm decodes a JSON array argument (CMD ["serve"]).
func execForm(args string) ([]string, bool) {
	var v []string
	return v, json.Unmarshal([]byte(args), &v) == nil
}

// envAssignments parses ENV K=V K2=V2.
func envAssignments(args string) map[string]string {
	out := map[string]string{}
	for _, f := range strings.Fields(args) {
		if k, v, ok := strings.Cut(f, "="); ok {
			out[k] = strings.Trim(v, `"`)
		}
	}
	return out
}

// ports are a node's three ports, from its DYNKV_*_ADDR settings.
type ports struct{ http, rpc, gossip string }

func portsOf(env func(string) string, c *serveCLI) (ports, []string) {
	var p ports
	var problems []string
	for _, f := range []struct {
		flag string
		dst  *string
	}{{"http-addr", &p.http}, {"rpc-addr", &p.rpc}, {"gossip-addr", &p.gossip}} {
		v := env(c.envName(f.flag))
		if v == "" {
			problems = append(problems, fmt.Sprintf("%s is not set", c.envName(f.flag)))
			continue
		}
		_, port, err := net.SplitHostPort(v)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s=%s: %v", c.envName(f.flag), v, err))
		}
		*f.dst = port
	}
	return p, problems
}

// dockerImage is what the Dockerfile promises the other files.
type dockerImage struct {
	env   map[string]string // final stage ENV
	ports ports
}

func checkDockerfile(c *serveCLI, content, goModVersion string, exists func(string) bool) (dockerImage, []string) {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	ins := parseDockerfile(content)
	last := 0
	globalArgs := map[string]string{}
	for _, in := range ins {
		last = max(last, in.stage)
		if in.cmd == "ARG" && in.stage == 0 {
			k, v, _ := strings.Cut(in.args, "=")
			globalArgs[k] = v
		}
	}
	expand := func(s string) string {
		return os.Expand(s, func(k string) string { return globalArgs[k] })
	}
	img := dockerImage{env: map[string]string{}}
	var froms []string
	var entrypoint, cmd []string
	var user, build string
	var exposed, volumes []string
	healthcheck := ""
	for _, in := range ins {
		switch {
		case in.cmd == "FROM":
			froms = append(froms, expand(in.args))
		case in.cmd == "RUN" && in.stage < last:
			build += in.args + "\n"
		case in.stage != last:
		case in.cmd == "ENV":
			for k, v := range envAssignments(in.args) {
				img.env[k] = v
			}
		case in.cmd == "USER":
			user = in.args
		case in.cmd == "EXPOSE":
			exposed = append(exposed, strings.Fields(in.args)...)
		case in.cmd == "VOLUME":
			if v, ok := execForm(in.args); ok {
				volumes = append(volumes, v...)
			} else {
				volumes = append(volumes, strings.Fields(in.args)...)
			}
		case in.cmd == "ENTRYPOINT" || in.cmd == "CMD":
			v, ok := execForm(in.args)
			if !ok {
				bad("line %d: %s %s: use the exec form [\"...\"], so that dynkv is PID 1 and gets SIGTERM", in.line, in.cmd, in.args)
			}
			if in.cmd == "CMD" {
				cmd = v
			} else {
				entrypoint = v
			}
		case in.cmd == "HEALTHCHECK":
			healthcheck = in.args
		case in.cmd == "STOPSIGNAL":
			if in.args != "SIGTERM" && in.args != "15" {
				bad("STOPSIGNAL %s: dynkv drains on SIGTERM", in.args)
			}
		}
	}
	if len(froms) < 2 {
		bad("want a multi-stage build, found %d FROM lines", len(froms))
		return img, problems
	}
	builder := ""
	for _, f := range strings.Fields(froms[0]) {
		if !strings.HasPrefix(f, "--") {
			builder = f
			break
		}
	}
	if builder != "golang:"+goModVersion && !strings.HasPrefix(builder, "golang:"+goModVersion+"-") && !strings.HasPrefix(builder, "golang:"+goModVersion+".") {
		bad("builder stage FROM %q: want golang:%s (go.mod's go version)", froms[0], goModVersion)
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "./cmd/dynkv", "./deploy/healthcheck"} {
		if !strings.Contains(build, want) {
			bad("the build does not use %s", want)
		}
	}
	for _, pkg := range []string{"cmd/dynkv", "deploy/healthcheck"} {
		if !exists(pkg) {
			bad("the build compiles ./%s, which does not exist", pkg)
		}
	}
	if m := regexp.MustCompile(`-X main\.(\w+)=`).FindStringSubmatch(build); m == nil {
		bad("the build does not set the version with -ldflags -X main.<var>=...")
	} else if !c.vars[m[1]] {
		bad("-X main.%s: package main has no string variable %s; the binary would report no version", m[1], m[1])
	}
	if u, _, _ := strings.Cut(user, ":"); u != "65532" {
		bad("final stage USER %q: want 65532 (non-root; distroless nonroot)", user)
	}
	dataDir := img.env[c.envName("data-dir")]
	if dataDir == "" || !slices.Contains(volumes, dataDir) {
		bad("%s=%q must be a VOLUME (volumes: %v)", c.envName("data-dir"), dataDir, volumes)
	}
	var ps []string
	img.ports, ps = portsOf(func(k string) string { return img.env[k] }, c)
	problems = append(problems, ps...)
	for _, want := range []string{img.ports.http + "/tcp", img.ports.rpc + "/tcp", img.ports.gossip + "/tcp", img.ports.gossip + "/udp"} {
		if !slices.Contains(exposed, want) {
			bad("EXPOSE %v lacks %s", exposed, want)
		}
	}
	if !slices.Equal(entrypoint, []string{"dynkv"}) {
		bad("ENTRYPOINT %q: want [\"dynkv\"]", entrypoint)
	}
	if len(cmd) == 0 || cmd[0] != c.command {
		bad("CMD %q: want [%q, ...]", cmd, c.command)
	}
	if !strings.Contains(healthcheck, "dynkv-healthcheck") {
		bad("HEALTHCHECK %q: want it to run dynkv-healthcheck (GET /health)", healthcheck)
	}
	return img, problems
}

// ---- .dockerignore ------------------------------------------------------------

// dockerignored reports whether name would be left out of the build context
// (last matching pattern wins, ! re-includes, a pattern also excludes what
// is under a directory it matches).
func dockerignored(patterns []string, name string) bool {
	excluded := false
	for _, p := range patterns {
		neg := strings.HasPrefix(p, "!")
		p = strings.Trim(strings.TrimPrefix(p, "!"), "/")
		var re strings.Builder
		re.WriteString("^")
		for i := 0; i < len(p); i++ {
			switch {
			case strings.HasPrefix(p[i:], "**/"):
				re.WriteString("(?:.*/)?")
				i += 2
			case strings.HasPrefix(p[i:], "**"):
				re.WriteString(".*")
				i++
			case p[i] == '*':
				re.WriteString("[^/]*")
			case p[i] == '?':
				re.WriteString("[^/]")
			default:
				re.WriteString(regexp.QuoteMeta(p[i : i+1]))
			}
		}
		re.WriteString("(?:/.*)?$")
		if regexp.MustCompile(re.String()).MatchString(name) {
			excluded = !neg
		}
	}
	return excluded
}

func checkDockerignore(content string) []string {
	var patterns []string
	for _, l := range strings.Split(content, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			patterns = append(patterns, l)
		}
	}
	var problems []string
	for _, need := range []string{"go.mod", "go.sum", "cmd/dynkv/main.go", "node/node.go", "deploy/healthcheck/main.go"} {
		if dockerignored(patterns, need) {
			problems = append(problems, fmt.Sprintf("excludes %s, which the build needs", need))
		}
	}
	for _, drop := range []string{".git/HEAD", "dynkv-dev/n1/x", "deploy/kubernetes/statefulset.yaml"} {
		if !dockerignored(patterns, drop) {
			problems = append(problems, fmt.Sprintf("sends %s to the builder", drop))
		}
	}
	return problems
}

// ---- A YAML outline ---------------------------------------------------------
//
// No YAML library is among the module's dependencies, so the test reads the
// YAML as an outline: one node per line, children indented under it. It
// checks indentation (no tabs, children aligned) and is enough to look keys
// up; flow collections are read as [a, b] lists of plain scalars.

type ynode struct {
	line   int
	indent int
	text   string // without indentation and comment
	kids   []*ynode
}

func parseYAML(content string) ([]*ynode, error) {
	var docs []*ynode
	root := &ynode{indent: -1}
	stack := []*ynode{root}
	block := -1 // indentation of a block scalar's key, while inside it
	for i, raw := range strings.Split(strings.ReplaceAll(content, "\r\n", "\n"), "\n") {
		n := i + 1
		trimmed := strings.TrimSpace(raw)
		indent := len(raw) - len(strings.TrimLeft(raw, " \t"))
		if block >= 0 && (trimmed == "" || indent > block) {
			continue
		}
		block = -1
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if strings.Contains(raw[:indent], "\t") {
			return nil, fmt.Errorf("line %d: tab in indentation", n)
		}
		if trimmed == "---" {
			if len(root.kids) > 0 {
				docs = append(docs, root)
			}
			root = &ynode{indent: -1}
			stack = []*ynode{root}
			continue
		}
		// An item holding a mapping ("- name: x") is read as an item line
		// ("-") with the mapping's first key under it, where the key stands.
		nodes := []*ynode{{line: n, indent: indent, text: stripComment(trimmed)}}
		if rest, ok := strings.CutPrefix(nodes[0].text, "- "); ok {
			if key := (&ynode{text: rest}).key(); key != "" {
				nodes = []*ynode{{line: n, indent: indent, text: "-"}, {line: n, indent: indent + 2, text: rest}}
			}
		}
		for _, node := range nodes {
			for stack[len(stack)-1].indent >= node.indent {
				stack = stack[:len(stack)-1]
			}
			parent := stack[len(stack)-1]
			if k := len(parent.kids); k > 0 && parent.kids[k-1].indent != node.indent {
				return nil, fmt.Errorf("line %d: indented %d, its siblings %d", n, node.indent, parent.kids[k-1].indent)
			}
			parent.kids = append(parent.kids, node)
			stack = append(stack, node)
		}
		if v := nodes[len(nodes)-1].rawValue(); v == "|" || v == "|-" || v == ">" || v == ">-" {
			block = indent
		}
	}
	if len(root.kids) > 0 {
		docs = append(docs, root)
	}
	return docs, nil
}

func stripComment(s string) string {
	quote := byte(0)
	for i := 0; i < len(s); i++ {
		switch {
		case quote != 0:
			if s[i] == quote {
				quote = 0
			}
		case (s[i] == '"' || s[i] == '\'') && (i == 0 || strings.IndexByte(" [{,:", s[i-1]) >= 0):
			quote = s[i] // a quoted scalar starts; it's in plain text does not
		case s[i] == '#' && (i == 0 || s[i-1] == ' '):
			return strings.TrimSpace(s[:i])
		}
	}
	return s
}

func (n *ynode) isItem() bool { return n.text == "-" || strings.HasPrefix(n.text, "- ") }

func (n *ynode) keyValue() (key, value string, ok bool) {
	t := n.text
	if n.isItem() {
		t = strings.TrimSpace(t[1:])
	}
	if strings.HasPrefix(t, `"`) || strings.HasPrefix(t, "'") {
		return "", t, false
	}
	if i := strings.Index(t, ": "); i >= 0 {
		return t[:i], strings.TrimSpace(t[i+2:]), true
	}
	if k, ok := strings.CutSuffix(t, ":"); ok {
		return k, "", true
	}
	return "", t, false
}

func (n *ynode) key() string { k, _, _ := n.keyValue(); return k }

func (n *ynode) rawValue() string { _, v, _ := n.keyValue(); return v }

// value is the node's scalar, unquoted.
func (n *ynode) value() string {
	if n == nil {
		return ""
	}
	return unquote(n.rawValue())
}

func unquote(v string) string {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		if s, err := strconv.Unquote(v); err == nil {
			return s
		}
	}
	if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
		return strings.ReplaceAll(v[1:len(v)-1], "''", "'")
	}
	return v
}

// get follows keys down from n.
func (n *ynode) get(keys ...string) *ynode {
	for _, k := range keys {
		if n == nil {
			return nil
		}
		var next *ynode
		for _, kid := range n.kids {
			if !kid.isItem() && kid.key() == k {
				next = kid
				break
			}
		}
		n = next
	}
	return n
}

// children are n's entries; none for a missing node.
func (n *ynode) children() []*ynode {
	if n == nil {
		return nil
	}
	return n.kids
}

// items are a sequence's entries.
func (n *ynode) items() []*ynode {
	if n == nil {
		return nil
	}
	var out []*ynode
	for _, kid := range n.kids {
		if kid.isItem() {
			out = append(out, kid)
		}
	}
	return out
}

// list is a sequence of scalars, flow ([a, b]) or block.
func (n *ynode) list() []string {
	if n == nil {
		return nil
	}
	var out []string
	if v := n.rawValue(); strings.HasPrefix(v, "[") && strings.HasSuffix(v, "]") {
		for _, s := range strings.Split(v[1:len(v)-1], ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, unquote(s))
			}
		}
		return out
	}
	for _, it := range n.items() {
		out = append(out, unquote(strings.TrimSpace(strings.TrimPrefix(it.text, "-"))))
	}
	return out
}

// ---- docker-compose.yml ------------------------------------------------------

func checkCompose(c *serveCLI, content string, img dockerImage) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	docs, err := parseYAML(content)
	if err != nil || len(docs) != 1 {
		return []string{fmt.Sprintf("not one YAML document: %v", err)}
	}
	top := docs[0]
	services := top.get("services")
	if services == nil {
		return []string{"no services"}
	}
	anchors := map[string]*ynode{}
	for _, kid := range top.kids {
		if v := kid.rawValue(); strings.HasPrefix(v, "&") {
			anchors[v[1:]] = kid
		}
	}
	// lookup finds a service's key, itself or through its <<: *anchor.
	lookup := func(svc *ynode, keys ...string) *ynode {
		if n := svc.get(keys...); n != nil {
			return n
		}
		if m := svc.get("<<"); m != nil {
			return anchors[strings.TrimPrefix(m.rawValue(), "*")].get(keys...)
		}
		return nil
	}
	declared := map[string]bool{}
	for _, v := range top.get("volumes").children() {
		declared[v.key()] = true
	}
	names := map[string]bool{}
	for _, svc := range services.kids {
		names[svc.key()] = true
	}
	for _, want := range []string{"n1", "n2", "n3"} {
		if !names[want] {
			bad("no service %s", want)
		}
	}
	usedVolumes := map[string]string{}
	published := 0
	for _, svc := range services.kids {
		name := svc.key()
		env := func(k string) string {
			if v := lookup(svc, "environment", k); v != nil {
				return v.value()
			}
			return img.env[k]
		}
		if got := env(c.envName("name")); got != name {
			bad("%s: %s=%q, want the service name", name, c.envName("name"), got)
		}
		p, ps := portsOf(env, c)
		for _, s := range ps {
			bad("%s: %s", name, s)
		}
		if b := lookup(svc, "build"); b != nil && (b.get("dockerfile").value() != "deploy/Dockerfile" || b.get("context").value() != "..") {
			bad("%s: build from context .. with dockerfile deploy/Dockerfile (the repository root)", name)
		}
		dataDir := env(c.envName("data-dir"))
		var vol string
		for _, v := range lookup(svc, "volumes").list() {
			if src, dst, _ := strings.Cut(v, ":"); strings.TrimSuffix(dst, ":rw") == dataDir {
				vol = src
			}
		}
		switch {
		case vol == "":
			bad("%s: no volume on %s (the data dir)", name, dataDir)
		case !declared[vol]:
			bad("%s: volume %s is not a named volume declared under volumes:", name, vol)
		case usedVolumes[vol] != "":
			bad("%s: shares volume %s with %s", name, vol, usedVolumes[vol])
		default:
			usedVolumes[vol] = name
		}
		hc := lookup(svc, "healthcheck", "test").list()
		if !slices.Contains(hc, "dynkv-healthcheck") {
			bad("%s: healthcheck %q does not run dynkv-healthcheck (GET /health)", name, hc)
		}
		if grace, err := time.ParseDuration(lookup(svc, "stop_grace_period").value()); err != nil || grace < c.drain+10*time.Second {
			bad("%s: stop_grace_period %q: want at least %s (serve drains for %s)", name, lookup(svc, "stop_grace_period").value(), c.drain+10*time.Second, c.drain)
		}
		for _, port := range lookup(svc, "ports").list() {
			published++
			parts := strings.Split(port, ":")
			if len(parts) != 3 || parts[0] != "127.0.0.1" {
				bad("%s: port %q: publish on 127.0.0.1 only (host_ip:host_port:container_port)", name, port)
			} else if parts[2] != p.http {
				bad("%s: port %q: the container's HTTP port is %s", name, port, p.http)
			}
		}
		// Peers must be told an IP address: memberlist does not resolve
		// the advertise address.
		adv := env(c.envName("advertise-host"))
		if net.ParseIP(adv) == nil {
			bad("%s: %s=%q must be an IP address (memberlist refuses host names there)", name, c.envName("advertise-host"), adv)
		}
		for _, nw := range lookup(svc, "networks").children() {
			if ip := nw.get("ipv4_address").value(); ip != "" && ip != adv {
				bad("%s: %s=%s but the container's address is %s", name, c.envName("advertise-host"), adv, ip)
			}
		}
		join := env(c.envName("join"))
		for _, seed := range strings.Split(join, ",") {
			host, port, err := net.SplitHostPort(seed)
			switch {
			case join == "":
			case err != nil:
				bad("%s: %s entry %q: %v", name, c.envName("join"), seed, err)
			case !names[host] || host == name:
				bad("%s: %s entry %q: want another service's name (a node that reaches itself counts as joined)", name, c.envName("join"), seed)
			case port != p.gossip:
				bad("%s: %s entry %q: the gossip port is %s", name, c.envName("join"), seed, p.gossip)
			}
		}
		if name != "n1" && !strings.Contains(join, "n1:"+p.gossip) {
			bad("%s: %s=%q does not name n1's gossip address", name, c.envName("join"), join)
		}
	}
	if published == 0 {
		bad("no HTTP port published")
	}
	return problems
}

// ---- systemd unit and environment file ------------------------------------

// unitKeys maps "Section.Key" to every value it is given.
func unitKeys(content string) map[string][]string {
	out := map[string][]string{}
	section := ""
	for _, l := range logicalLines(content) {
		t := strings.TrimSpace(l.text)
		switch {
		case t == "" || strings.HasPrefix(t, "#") || strings.HasPrefix(t, ";"):
		case strings.HasPrefix(t, "[") && strings.HasSuffix(t, "]"):
			section = t[1 : len(t)-1]
		default:
			k, v, _ := strings.Cut(t, "=")
			out[section+"."+strings.TrimSpace(k)] = append(out[section+"."+strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	return out
}

// envFile parses KEY=VALUE lines, commented-out ones (#KEY=VALUE) apart.
func envFile(content string) (set, commented map[string]string, problems []string) {
	set, commented = map[string]string{}, map[string]string{}
	assign := regexp.MustCompile(`^([A-Z_][A-Z0-9_]*)=(.*)$`)
	for i, l := range strings.Split(content, "\n") {
		t := strings.TrimSpace(l)
		switch {
		case t == "":
		case strings.HasPrefix(t, "#"):
			if m := assign.FindStringSubmatch(strings.TrimPrefix(t, "#")); m != nil {
				commented[m[1]] = m[2]
			}
		default:
			m := assign.FindStringSubmatch(t)
			if m == nil {
				problems = append(problems, fmt.Sprintf("line %d: %q is not KEY=VALUE", i+1, t))
				continue
			}
			if strings.ContainsAny(m[2], "\"'$` ") {
				problems = append(problems, fmt.Sprintf("line %d: %s: quotes, $ and spaces are not for a plain environment file", i+1, m[1]))
			}
			set[m[1]] = m[2]
		}
	}
	return set, commented, problems
}

func checkSystemd(c *serveCLI, unit, envExample string) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	keys := unitKeys(unit)
	one := func(k string) string {
		if v := keys[k]; len(v) > 0 {
			return v[len(v)-1]
		}
		return ""
	}
	for k, want := range map[string]string{
		"Service.User":                  "dynkv",
		"Service.StateDirectory":        "dynkv",
		"Service.NoNewPrivileges":       "yes",
		"Service.ProtectSystem":         "strict",
		"Service.Restart":               "on-failure",
		"Service.KillSignal":            "SIGTERM",
		"Service.EnvironmentFile":       "-/etc/dynkv/dynkv.env",
		"Install.WantedBy":              "multi-user.target",
		"Service.PrivateTmp":            "yes",
		"Service.ProtectHome":           "yes",
		"Service.CapabilityBoundingSet": "",
	} {
		if got, ok := keys[k]; !ok || one(k) != want {
			bad("%s=%q, want %q", k, got, want)
		}
	}
	if one("Service.LimitNOFILE") == "" {
		bad("no LimitNOFILE")
	}
	stop := one("Service.TimeoutStopSec")
	d, err := time.ParseDuration(stop)
	if n, err2 := strconv.Atoi(stop); err2 == nil {
		d, err = time.Duration(n)*time.Second, nil
	}
	if err != nil || d < c.drain+10*time.Second {
		bad("TimeoutStopSec=%q: want at least %s (serve drains for %s)", stop, c.drain+10*time.Second, c.drain)
	}
	exec := strings.Fields(one("Service.ExecStart"))
	if len(exec) < 2 || !filepath.IsAbs(exec[0]) || filepath.Base(exec[0]) != "dynkv" || exec[1] != c.command {
		bad("ExecStart=%q: want /path/to/dynkv %s", one("Service.ExecStart"), c.command)
	}
	// The data dir: set in the unit, maybe overridden by the file; it must
	// be writable under ProtectSystem=strict.
	dataDir := ""
	for _, e := range keys["Service.Environment"] {
		if v, ok := strings.CutPrefix(e, c.envName("data-dir")+"="); ok {
			dataDir = v
		}
	}
	set, commented, ps := envFile(envExample)
	for _, p := range ps {
		bad("dynkv.env.example: %s", p)
	}
	if v := set[c.envName("data-dir")]; v != "" {
		dataDir = v
	}
	if dataDir == "" || !slices.Contains(strings.Fields(strings.Join(keys["Service.ReadWritePaths"], " ")), dataDir) {
		bad("the data dir %q is not in ReadWritePaths=%q", dataDir, keys["Service.ReadWritePaths"])
	}
	if !strings.HasPrefix(dataDir, "/var/lib/"+one("Service.StateDirectory")) {
		bad("the data dir %q is not under StateDirectory=%s", dataDir, one("Service.StateDirectory"))
	}
	// The example documents every flag, so a new flag shows up here.
	for f := range c.flags {
		k := c.envName(f)
		if _, ok := set[k]; !ok {
			if _, ok := commented[k]; !ok {
				bad("dynkv.env.example does not mention %s (--%s), not even commented out", k, f)
			}
		}
	}
	for _, k := range []string{"name", "data-dir", "join"} {
		if set[c.envName(k)] == "" {
			bad("dynkv.env.example: %s should be set, as an example", c.envName(k))
		}
	}
	return problems
}

// ---- Kubernetes -----------------------------------------------------------------

func checkKubernetes(c *serveCLI, content string) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	docs, err := parseYAML(content)
	if err != nil {
		return []string{err.Error()}
	}
	byKind := map[string][]*ynode{}
	for _, d := range docs {
		kind := d.get("kind").value()
		if kind == "" || d.get("apiVersion").value() == "" || d.get("metadata", "name").value() == "" {
			bad("line %d: a document without kind, apiVersion or metadata.name", d.kids[0].line)
		}
		byKind[kind] = append(byKind[kind], d)
	}
	if len(byKind["StatefulSet"]) != 1 || len(byKind["Service"]) != 2 || len(byKind["PodDisruptionBudget"]) != 1 {
		return append(problems, fmt.Sprintf("want a StatefulSet, two Services and a PodDisruptionBudget; found %d, %d, %d",
			len(byKind["StatefulSet"]), len(byKind["Service"]), len(byKind["PodDisruptionBudget"])))
	}
	sts := byKind["StatefulSet"][0]
	stsName := sts.get("metadata", "name").value()
	spec := sts.get("spec")
	serviceName := spec.get("serviceName").value()
	labels := map[string]string{}
	for _, l := range spec.get("selector", "matchLabels").children() {
		labels[l.key()] = l.value()
	}
	selects := func(sel *ynode) bool {
		if sel == nil || len(sel.kids) == 0 {
			return false
		}
		for _, l := range sel.kids {
			if labels[l.key()] != l.value() {
				return false
			}
		}
		return true
	}
	var headless *ynode
	for _, svc := range byKind["Service"] {
		if !selects(svc.get("spec", "selector")) {
			bad("Service %s does not select the StatefulSet's pods", svc.get("metadata", "name").value())
		}
		if svc.get("spec", "clusterIP").value() == "None" {
			headless = svc
		}
	}
	if headless == nil || headless.get("metadata", "name").value() != serviceName {
		bad("the StatefulSet's serviceName %q is not a headless Service (clusterIP: None)", serviceName)
	} else if headless.get("spec", "publishNotReadyAddresses").value() != "true" {
		bad("headless Service: publishNotReadyAddresses: true, or starting nodes cannot resolve their seeds")
	}
	pdb := byKind["PodDisruptionBudget"][0]
	if pdb.get("spec", "maxUnavailable").value() != "1" || !selects(pdb.get("spec", "selector", "matchLabels")) {
		bad("PodDisruptionBudget: want maxUnavailable: 1 selecting the StatefulSet's pods")
	}
	pod := spec.get("template", "spec")
	if pod == nil {
		return append(problems, "StatefulSet: no spec.template.spec")
	}
	if pod.get("enableServiceLinks").value() != "false" {
		bad("pod: enableServiceLinks: false, or Services named dynkv put DYNKV_-prefixed variables into the environment serve reads")
	}
	if pod.get("affinity", "podAntiAffinity") == nil {
		bad("pod: no podAntiAffinity")
	}
	grace, _ := strconv.Atoi(pod.get("terminationGracePeriodSeconds").value())
	containers := pod.get("containers").items()
	if len(containers) != 1 {
		return append(problems, fmt.Sprintf("want one container, found %d", len(containers)))
	}
	ctr := containers[0]
	preStop, _ := strconv.Atoi(ctr.get("lifecycle", "preStop", "sleep", "seconds").value())
	if time.Duration(grace-preStop)*time.Second < c.drain+10*time.Second {
		bad("terminationGracePeriodSeconds %d (preStop sleep %ds): want the drain (%s) plus 10s after the preStop sleep", grace, preStop, c.drain)
	}
	if args := ctr.get("args").list(); len(args) == 0 || args[0] != c.command {
		bad("container args %q: want [%q, ...]", args, c.command)
	}
	env := map[string]*ynode{}
	for _, e := range ctr.get("env").items() {
		env[e.get("name").value()] = e
	}
	val := func(k string) string { return env[k].get("value").value() }
	fieldRef := func(k string) string {
		if env[k] == nil {
			return ""
		}
		return env[k].get("valueFrom", "fieldRef", "fieldPath").value()
	}
	if fieldRef(c.envName("name")) != "metadata.name" {
		bad("%s must come from the pod name (fieldRef metadata.name)", c.envName("name"))
	}
	if fieldRef(c.envName("advertise-host")) != "status.podIP" {
		bad("%s must be the pod IP (fieldRef status.podIP): memberlist needs an IP address", c.envName("advertise-host"))
	}
	p, ps := portsOf(val, c)
	problems = append(problems, ps...)
	replicas, _ := strconv.Atoi(spec.get("replicas").value())
	join := val(c.envName("join"))
	seedRE := regexp.MustCompile(`^` + regexp.QuoteMeta(stsName) + `-(\d+)\.` + regexp.QuoteMeta(serviceName) + `(\.[a-z0-9.-]+)?:(\d+)$`)
	for _, seed := range strings.Split(join, ",") {
		m := seedRE.FindStringSubmatch(seed)
		if m == nil {
			bad("%s entry %q: want %s-<i>.%s:<gossip port>", c.envName("join"), seed, stsName, serviceName)
			continue
		}
		if i, _ := strconv.Atoi(m[1]); i >= replicas {
			bad("%s entry %q: there are only %d replicas", c.envName("join"), seed, replicas)
		}
		if m[3] != p.gossip {
			bad("%s entry %q: the gossip port is %s", c.envName("join"), seed, p.gossip)
		}
	}
	type portKey struct{ port, proto string }
	named := map[string]portKey{}
	have := map[portKey]bool{}
	for _, cp := range ctr.get("ports").items() {
		k := portKey{cp.get("containerPort").value(), cp.get("protocol").value()}
		if k.proto == "" {
			k.proto = "TCP"
		}
		named[cp.get("name").value()] = k
		have[k] = true
	}
	for _, want := range []portKey{{p.http, "TCP"}, {p.rpc, "TCP"}, {p.gossip, "TCP"}, {p.gossip, "UDP"}} {
		if !have[want] {
			bad("container ports lack %s/%s", want.port, want.proto)
		}
	}
	if headless != nil {
		hp := map[portKey]bool{}
		for _, sp := range headless.get("spec", "ports").items() {
			proto := sp.get("protocol").value()
			if proto == "" {
				proto = "TCP"
			}
			hp[portKey{sp.get("port").value(), proto}] = true
		}
		for _, want := range []portKey{{p.rpc, "TCP"}, {p.gossip, "TCP"}, {p.gossip, "UDP"}} {
			if !hp[want] {
				bad("headless Service lacks port %s/%s", want.port, want.proto)
			}
		}
	}
	for _, probe := range []string{"startupProbe", "readinessProbe", "livenessProbe"} {
		get := ctr.get(probe, "httpGet")
		port := get.get("port").value()
		if k, ok := named[port]; ok {
			port = k.port
		}
		if get.get("path").value() != "/health" || port != p.http {
			bad("%s: want httpGet /health on the HTTP port %s", probe, p.http)
		}
	}
	nonRoot := pod.get("securityContext", "runAsNonRoot").value() == "true" || ctr.get("securityContext", "runAsNonRoot").value() == "true"
	if !nonRoot || ctr.get("securityContext", "readOnlyRootFilesystem").value() != "true" || ctr.get("securityContext", "allowPrivilegeEscalation").value() != "false" {
		bad("securityContext: want runAsNonRoot, readOnlyRootFilesystem and no privilege escalation")
	}
	if pod.get("securityContext", "fsGroup").value() == "" {
		bad("pod securityContext: set fsGroup, or the non-root user cannot write the volume")
	}
	dataDir := val(c.envName("data-dir"))
	var claim string
	for _, m := range ctr.get("volumeMounts").items() {
		if m.get("mountPath").value() == dataDir {
			claim = m.get("name").value()
		}
	}
	found := false
	for _, t := range spec.get("volumeClaimTemplates").items() {
		found = found || t.get("metadata", "name").value() == claim
	}
	if claim == "" || !found {
		bad("the data dir %q is not a volume from volumeClaimTemplates", dataDir)
	}
	return problems
}

// ---- README -------------------------------------------------------------------

func checkReadme(content string, files map[string]string) []string {
	var problems []string
	for name := range files {
		if name == "README.md" || strings.HasSuffix(name, ".go") {
			continue
		}
		if !strings.Contains(content, name) {
			problems = append(problems, fmt.Sprintf("does not mention %s", name))
		}
	}
	if !strings.Contains(content, "docker build -f deploy/Dockerfile") {
		problems = append(problems, "does not show docker build -f deploy/Dockerfile")
	}
	return problems
}

// ---- The tests --------------------------------------------------------------------

func goModVersion(t *testing.T) string {
	b, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	return string(m[1])
}

func report(t *testing.T, file string, problems []string) {
	t.Helper()
	for _, p := range problems {
		t.Errorf("%s: %s", file, p)
	}
}

func TestDeployFiles(t *testing.T) {
	c := cli(t)
	files, err := deployFiles(deployDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Dockerfile", "Dockerfile.dockerignore", "docker-compose.yml", "dynkv.service", "dynkv.env.example", "kubernetes/statefulset.yaml", "README.md"} {
		if _, ok := files[want]; !ok {
			t.Fatalf("deploy/%s is missing", want)
		}
	}
	t.Run("flags and variables", func(t *testing.T) {
		for _, p := range checkFlagsAndVariables(c, files) {
			t.Error(p)
		}
	})
	exists := func(rel string) bool {
		_, err := os.Stat(filepath.Join(repoRoot, rel))
		return err == nil
	}
	img, problems := checkDockerfile(c, files["Dockerfile"], goModVersion(t), exists)
	t.Run("Dockerfile", func(t *testing.T) { report(t, "Dockerfile", problems) })
	t.Run("Dockerfile.dockerignore", func(t *testing.T) {
		report(t, "Dockerfile.dockerignore", checkDockerignore(files["Dockerfile.dockerignore"]))
	})
	t.Run("docker-compose.yml", func(t *testing.T) {
		report(t, "docker-compose.yml", checkCompose(c, files["docker-compose.yml"], img))
	})
	t.Run("dynkv.service", func(t *testing.T) {
		report(t, "dynkv.service", checkSystemd(c, files["dynkv.service"], files["dynkv.env.example"]))
	})
	t.Run("kubernetes", func(t *testing.T) {
		report(t, "kubernetes/statefulset.yaml", checkKubernetes(c, files["kubernetes/statefulset.yaml"]))
	})
	t.Run("README.md", func(t *testing.T) {
		report(t, "README.md", checkReadme(files["README.md"], files))
	})
}

// TestServeFlagsAreRead: the flags come from cmd/dynkv's source as it is,
// with the values the deploy files depend on.
func TestServeFlagsAreRead(t *testing.T) {
	c := cli(t)
	for _, f := range []string{"name", "data-dir", "http-addr", "rpc-addr", "gossip-addr", "advertise-host", "join", "log-format"} {
		if !c.flags[f] {
			t.Errorf("serve has no --%s (found %v)", f, c.flags)
		}
	}
	if c.flags["endpoints"] {
		t.Error("--endpoints (a client command's flag) counted as serve's")
	}
	if c.envPrefix != "DYNKV_" || c.envName("data-dir") != "DYNKV_DATA_DIR" {
		t.Errorf("env prefix %q", c.envPrefix)
	}
	if !slices.Contains(c.others, "status") {
		t.Errorf("other subcommands %v", c.others)
	}
}

// TestRenamedFlagIsCaught: renaming a flag in serve's source makes the
// check fail on every file that uses it.
func TestRenamedFlagIsCaught(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(repoRoot, "cmd", "dynkv")
	paths, _ := filepath.Glob(filepath.Join(src, "*.go"))
	renamed := false
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		if strings.Contains(s, `"advertise-host"`) {
			s, renamed = strings.ReplaceAll(s, `"advertise-host"`, `"advertise-address"`), true
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(p)), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if !renamed {
		t.Fatal(`no "advertise-host" in cmd/dynkv: update this test`)
	}
	c, err := loadServeCLI(dir)
	if err != nil {
		t.Fatal(err)
	}
	files, err := deployFiles(deployDir)
	if err != nil {
		t.Fatal(err)
	}
	caught := map[string]bool{}
	for _, p := range checkFlagsAndVariables(c, files) {
		if strings.Contains(p, "DYNKV_ADVERTISE_HOST") || strings.Contains(p, "--advertise-host") {
			file, _, _ := strings.Cut(p, ":")
			caught[file] = true
		}
	}
	for _, want := range []string{"docker-compose.yml", "kubernetes/statefulset.yaml", "dynkv.env.example", "README.md"} {
		if !caught[want] {
			t.Errorf("renaming --advertise-host went unnoticed in %s (caught in %v)", want, caught)
		}
	}
	if p := checkSystemd(c, files["dynkv.service"], files["dynkv.env.example"]); len(p) == 0 {
		t.Error("the env example no longer documents every flag, yet checkSystemd is content")
	}
}

// TestCheckersCatchMistakes: the structural checks fail on broken copies.
func TestCheckersCatchMistakes(t *testing.T) {
	c := cli(t)
	files, err := deployFiles(deployDir)
	if err != nil {
		t.Fatal(err)
	}
	img, _ := checkDockerfile(c, files["Dockerfile"], goModVersion(t), func(string) bool { return true })
	for _, tc := range []struct {
		what, file, old, new string
		check                func(string) []string
	}{
		{"root user", "Dockerfile", "USER 65532:65532", "USER root", func(s string) []string {
			_, p := checkDockerfile(c, s, goModVersion(t), func(string) bool { return true })
			return p
		}},
		{"unknown flag in CMD", "Dockerfile", `CMD ["serve"]`, `CMD ["serve", "--no-such-flag"]`, func(s string) []string {
			return checkFlagsAndVariables(c, map[string]string{"Dockerfile": s})
		}},
		{"host name as advertise host", "docker-compose.yml", "DYNKV_ADVERTISE_HOST: 172.30.77.12", "DYNKV_ADVERTISE_HOST: n2", func(s string) []string {
			return checkCompose(c, s, img)
		}},
		{"port published on every interface", "docker-compose.yml", `"127.0.0.1:8001:8001"`, `"8001:8001"`, func(s string) []string {
			return checkCompose(c, s, img)
		}},
		{"short stop timeout", "dynkv.service", "TimeoutStopSec=60s", "TimeoutStopSec=10s", func(s string) []string {
			return checkSystemd(c, s, files["dynkv.env.example"])
		}},
		{"probe on the wrong path", "kubernetes/statefulset.yaml", "path: /health\n              port: http\n            periodSeconds: 5\n            timeoutSeconds: 2", "path: /status\n              port: http\n            periodSeconds: 5\n            timeoutSeconds: 2", func(s string) []string {
			return checkKubernetes(c, s)
		}},
		{"bad indentation", "kubernetes/statefulset.yaml", "      enableServiceLinks: false", "     enableServiceLinks: false", func(s string) []string {
			return checkKubernetes(c, s)
		}},
	} {
		if !strings.Contains(files[tc.file], tc.old) {
			t.Errorf("%s: %s no longer contains %q: update this test", tc.what, tc.file, tc.old)
			continue
		}
		if p := tc.check(strings.Replace(files[tc.file], tc.old, tc.new, 1)); len(p) == 0 {
			t.Errorf("%s in %s: not caught", tc.what, tc.file)
		}
	}
}

// TestCheckersSurviveOddInput: a file reduced to almost nothing is reported,
// not a panic.
func TestCheckersSurviveOddInput(t *testing.T) {
	c := cli(t)
	for _, in := range []string{"", "a: b", "services:\n  n1:\n    image: x", "kind: StatefulSet\napiVersion: apps/v1\nmetadata:\n  name: x"} {
		if len(checkCompose(c, in, dockerImage{env: map[string]string{}})) == 0 {
			t.Errorf("compose %q: no problem reported", in)
		}
		if len(checkKubernetes(c, in)) == 0 {
			t.Errorf("manifest %q: no problem reported", in)
		}
		if _, p := checkDockerfile(c, in, "1.26", func(string) bool { return false }); len(p) == 0 {
			t.Errorf("Dockerfile %q: no problem reported", in)
		}
		if len(checkSystemd(c, in, in)) == 0 {
			t.Errorf("unit %q: no problem reported", in)
		}
	}
}

func TestDockerignore(t *testing.T) {
	patterns := []string{"deploy", "!deploy/healthcheck", "**/*.test", "/dynkv"}
	for path, want := range map[string]bool{
		"deploy/Dockerfile":          true,
		"deploy/healthcheck/main.go": false,
		"node/node.test":             true,
		"dynkv":                      true,
		"cmd/dynkv/main.go":          false,
	} {
		if got := dockerignored(patterns, path); got != want {
			t.Errorf("dockerignored(%q) = %v, want %v", path, got, want)
		}
	}
}
