package hybridembed_test

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The documentation's Go examples compile, as a reader would paste them.
// Every ```go block of README.md and docs/*.md is one of two kinds:
//
//   - a whole file: the block starts with a package clause (after comments)
//     and is built as it is, as its own package;
//   - a fragment: statements, optionally after import declarations. It is
//     built as the body of a func main, in a file that imports what it
//     declares plus the packages of exampleImports it names, and that
//     declares two package variables the fragments may use as given:
//     ctx (a context.Context) and e (an *hybridembed.Embedder).
//
// Each block is its own package, so its names never meet another's, and all
// of them are checked with one `go vet` in a temporary module whose go.mod
// replaces github.com/hybridembed/hybridembed with this checkout. Line
// directives point every message at the Markdown file and line.

// exampleImports are the packages a fragment may use without importing
// them, by the name it uses.
var exampleImports = map[string]string{
	"context":     "context",
	"errors":      "errors",
	"fmt":         "fmt",
	"http":        "net/http",
	"hybridembed": "github.com/hybridembed/hybridembed",
	"image":       "image",
	"io":          "io",
	"log":         "log",
	"os":          "os",
	"filepath":    "path/filepath",
	"signal":      "os/signal",
	"slog":        "log/slog",
	"strings":     "strings",
	"time":        "time",
}

// docFiles are the Markdown files whose examples and links are checked.
func docFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("docs", "*.md"))
	require.NoError(t, err)
	return append([]string{"README.md"}, files...)
}

// codeBlock is one fenced block of a Markdown file.
type codeBlock struct {
	file  string // as docFiles names it
	line  int    // of the opening fence, from 1
	lang  string // the fence's info word: go, console, ...
	lines []string
}

func (b codeBlock) String() string { return fmt.Sprintf("%s:%d", b.file, b.line) }

var fenceRE = regexp.MustCompile("^( *)(```+|~~~+)\\s*([^\\s`]*)")

// readBlocks returns the fenced code blocks of a Markdown file, and its
// lines with every block's lines blanked (for the link check).
func readBlocks(t *testing.T, file string) ([]codeBlock, []string) {
	t.Helper()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	lines := strings.Split(string(data), "\n")
	prose := slices.Clone(lines)
	var blocks []codeBlock
	for i := 0; i < len(lines); i++ {
		m := fenceRE.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		indent, fence := len(m[1]), m[2]
		b := codeBlock{file: file, line: i + 1, lang: m[3]}
		prose[i] = ""
		closed := false
		for i++; i < len(lines); i++ {
			prose[i] = ""
			if s := strings.TrimLeft(lines[i], " "); strings.HasPrefix(s, fence) && strings.TrimSpace(strings.TrimLeft(s, fence[:1])) == "" {
				closed = true
				break
			}
			l := lines[i]
			// A block inside a list item is indented as the item is.
			l = l[min(indent, len(l)-len(strings.TrimLeft(l, " "))):]
			b.lines = append(b.lines, l)
		}
		require.Truef(t, closed, "%s: the code block never closes", b)
		blocks = append(blocks, b)
	}
	return blocks, prose
}

// goSource is what a ```go block is built from: the file to write and the
// source lines it covers (file line numbers of the block's first line).
func goSource(b codeBlock, abs string) string {
	var src strings.Builder
	directive := func(line int) { fmt.Fprintf(&src, "\n//line %s:%d\n", abs, line) }
	first := b.line + 1
	body := b.lines
	// Whole file: the first line that is not blank or a comment is the
	// package clause.
	for _, l := range body {
		s := strings.TrimSpace(l)
		if s == "" || strings.HasPrefix(s, "//") {
			continue
		}
		if strings.HasPrefix(s, "package ") {
			directive(first)
			src.WriteString(strings.Join(body, "\n"))
			src.WriteString("\n")
			return src.String()
		}
		break
	}
	// A fragment: its leading import declarations, then statements.
	n := leadingImports(body)
	imports, stmts := body[:n], body[n:]
	declared := map[string]bool{}
	if f, err := parser.ParseFile(token.NewFileSet(), "", "package p\n"+strings.Join(imports, "\n"), parser.ImportsOnly); err == nil {
		for _, im := range f.Imports {
			path, _ := strconv.Unquote(im.Path.Value)
			name := path[strings.LastIndex(path, "/")+1:]
			if im.Name != nil {
				name = im.Name.Name
			}
			declared[name] = true
		}
	}
	need := map[string]bool{"context": true, "hybridembed": true} // the package variables'
	if f, err := parser.ParseFile(token.NewFileSet(), "", "package p\nfunc main() {\n"+strings.Join(stmts, "\n")+"\n}", parser.SkipObjectResolution); err == nil {
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok {
				if id, ok := sel.X.(*ast.Ident); ok && exampleImports[id.Name] != "" {
					need[id.Name] = true
				}
			}
			return true
		})
	}
	src.WriteString("package main\n\nimport (\n")
	for _, name := range slices.Sorted(maps.Keys(need)) {
		if !declared[name] {
			fmt.Fprintf(&src, "\t%q\n", exampleImports[name])
		}
	}
	src.WriteString(")\n")
	if len(imports) > 0 {
		directive(first)
		src.WriteString(strings.Join(imports, "\n"))
		src.WriteString("\n")
	}
	src.WriteString("\nvar (\n\tctx = context.Background()\n\te   *hybridembed.Embedder\n)\n\nvar _, _ = ctx, e\n\nfunc main() {")
	directive(first + n)
	src.WriteString(strings.Join(stmts, "\n"))
	src.WriteString("\n}\n")
	return src.String()
}

// leadingImports is how many of lines are import declarations (and the
// blank lines and comments among them) before the first statement.
func leadingImports(lines []string) int {
	n, inGroup := 0, false
	for i, l := range lines {
		s := strings.TrimSpace(l)
		switch {
		case inGroup:
			inGroup = s != ")"
		case s == "import (":
			inGroup = true
		case strings.HasPrefix(s, "import "):
		case s == "" || strings.HasPrefix(s, "//"):
			continue // belongs to whatever follows
		default:
			return n
		}
		n = i + 1
	}
	return n
}

// vetExamples writes the ```go blocks into a temporary module and runs one
// go vet over them; it returns vet's output (nil when every block is
// fine), with the repository's root path taken out of file names.
func vetExamples(t *testing.T, blocks []codeBlock) (string, bool) {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH: the documentation's examples cannot be built")
	}
	root, err := filepath.Abs(".")
	require.NoError(t, err)
	gomod, err := os.ReadFile("go.mod")
	require.NoError(t, err)
	goLine := regexp.MustCompile(`(?m)^go [0-9.]+$`).Find(gomod)
	require.NotNil(t, goLine, "go.mod has no go line")
	sum, err := os.ReadFile("go.sum")
	require.NoError(t, err)

	dir := t.TempDir()
	mod := fmt.Sprintf("module hybridembed.test/docexamples\n\n%s\n\nrequire github.com/hybridembed/hybridembed v0.0.0\n\nreplace github.com/hybridembed/hybridembed => %s\n", goLine, root)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte(mod), 0o666))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o666))
	for i, b := range blocks {
		pkg := filepath.Join(dir, fmt.Sprintf("ex%03d", i))
		require.NoError(t, os.Mkdir(pkg, 0o777))
		src := goSource(b, filepath.Join(root, b.file))
		require.NoError(t, os.WriteFile(filepath.Join(pkg, "main.go"), []byte(src), 0o666))
	}
	cmd := exec.Command(goTool, "vet", "./...")
	cmd.Dir = dir
	// -mod=mod: the temporary go.mod lists only this module; its
	// requirements come from this checkout's go.mod, all in the module
	// cache already, so nothing is fetched.
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off", "GOPROXY=off")
	out, err := cmd.CombinedOutput()
	text := strings.ReplaceAll(string(out), root+string(filepath.Separator), "")
	return text, err == nil
}

// TestDocExamples builds every Go example of README.md and docs/*.md (see
// the comment at the top of this file for what a block may be).
func TestDocExamples(t *testing.T) {
	var blocks []codeBlock
	for _, f := range docFiles(t) {
		bs, _ := readBlocks(t, f)
		for _, b := range bs {
			if b.lang == "go" {
				blocks = append(blocks, b)
			}
		}
	}
	require.NotEmpty(t, blocks, "the documentation has no ```go block")
	out, ok := vetExamples(t, blocks)
	if ok {
		return
	}
	for _, b := range blocksNamed(blocks, out) {
		t.Errorf("%s: this ```go block does not compile (or go vet refuses it)", b)
	}
	t.Errorf("go vet of the documentation's examples:\n%s", out)
}

var posRE = regexp.MustCompile(`(?m)^(?:vet: )?((?:README|docs/)[^:\s]*\.md):(\d+)`)

// blocksNamed returns the blocks that vet's output has a message about.
func blocksNamed(blocks []codeBlock, out string) []codeBlock {
	var named []codeBlock
	for _, m := range posRE.FindAllStringSubmatch(out, -1) {
		line, _ := strconv.Atoi(m[2])
		for _, b := range blocks {
			if b.file == m[1] && line > b.line && line <= b.line+len(b.lines) && !slices.ContainsFunc(named, func(n codeBlock) bool { return n.String() == b.String() }) {
				named = append(named, b)
			}
		}
	}
	return named
}

// TestDocExamplesFailNamingTheBlock: a block that does not compile fails
// the check, named by its file and line (in any order: vet reports the
// packages as they finish).
func TestDocExamplesFailNamingTheBlock(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go vet")
	}
	blocks := []codeBlock{
		{file: "README.md", line: 10, lang: "go", lines: []string{`v, err := e.EmbedTexts(ctx, "m", []string{"a"})`, `if err != nil { ... }`, `fmt.Println(v)`}},
		{file: "docs/x.md", line: 20, lang: "go", lines: []string{`import "github.com/hybridembed/hybridembed"`, ``, `fmt.Println(hybridembed.Cosine(nil, nil))`}},
		{file: "docs/x.md", line: 30, lang: "go", lines: []string{`package main`, ``, `func main() { undefinedThing() }`}},
	}
	out, ok := vetExamples(t, blocks)
	require.False(t, ok, "go vet passed blocks that do not compile:\n%s", out)
	assert.ElementsMatch(t, []string{"README.md:10", "docs/x.md:30"}, slices.Collect(func(yield func(string) bool) {
		for _, b := range blocksNamed(blocks, out) {
			if !yield(b.String()) {
				return
			}
		}
	}), "vet's output:\n%s", out)
	assert.Contains(t, out, "README.md:12", "the message points at the line of the block that is wrong")
	assert.Contains(t, out, "docs/x.md:33")
}

var (
	linkRE      = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	htmlLinkRE  = regexp.MustCompile(`<(?:img|a)\s[^>]*?(?:src|href)="([^"]+)"`)
	codeSpanRE  = regexp.MustCompile("`+[^`]*`+")
	headingRE   = regexp.MustCompile(`^(#{1,6})\s+(.*?)\s*#*\s*$`)
	schemeRE    = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)
	mdLinkStrip = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)
)

// anchors are the fragment names GitHub gives the headings of a Markdown
// file's prose (lowercased; punctuation but - and _ dropped; spaces to -;
// a repeated name gets -1, -2, ...).
func anchors(prose []string) map[string]bool {
	out, seen := map[string]bool{}, map[string]int{}
	for _, l := range prose {
		m := headingRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		text := mdLinkStrip.ReplaceAllString(m[2], "$1")
		var slug strings.Builder
		for _, r := range strings.ToLower(text) {
			switch {
			case r == ' ':
				slug.WriteRune('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				slug.WriteRune(r)
			}
		}
		s := slug.String()
		if n := seen[s]; n > 0 {
			out[fmt.Sprintf("%s-%d", s, n)] = true
		} else {
			out[s] = true
		}
		seen[s]++
	}
	return out
}

// TestDocLinks: every relative link and image of README.md and docs/*.md
// names a file of the repository, and every #fragment a heading of its
// Markdown file.
func TestDocLinks(t *testing.T) {
	root, err := filepath.Abs(".")
	require.NoError(t, err)
	prose := map[string][]string{}
	for _, f := range docFiles(t) {
		_, p := readBlocks(t, f)
		prose[f] = p
	}
	anchorsOf := func(file string) (map[string]bool, error) {
		if p, ok := prose[file]; ok {
			return anchors(p), nil
		}
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		var lines []string
		sc := bufio.NewScanner(strings.NewReader(string(data)))
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		return anchors(lines), nil
	}
	checked := 0
	for _, f := range docFiles(t) {
		for i, l := range prose[f] {
			l = codeSpanRE.ReplaceAllString(l, "")
			var targets []string
			for _, m := range linkRE.FindAllStringSubmatch(l, -1) {
				targets = append(targets, m[1])
			}
			for _, m := range htmlLinkRE.FindAllStringSubmatch(l, -1) {
				targets = append(targets, m[1])
			}
			for _, target := range targets {
				if schemeRE.MatchString(target) {
					continue // http:, https:, mailto:
				}
				checked++
				where := fmt.Sprintf("%s:%d: link %q", f, i+1, target)
				path, frag, _ := strings.Cut(target, "#")
				dest := f
				if path != "" {
					dest = filepath.Join(filepath.Dir(f), filepath.FromSlash(path))
					abs, err := filepath.Abs(dest)
					require.NoError(t, err)
					if rel, err := filepath.Rel(root, abs); err != nil || strings.HasPrefix(rel, "..") {
						t.Errorf("%s leads out of the repository", where)
						continue
					}
					if _, err := os.Stat(dest); err != nil {
						t.Errorf("%s: no such file (%v)", where, err)
						continue
					}
				}
				if frag == "" || !strings.HasSuffix(dest, ".md") {
					continue
				}
				as, err := anchorsOf(filepath.ToSlash(filepath.Clean(dest)))
				if !assert.NoError(t, err, where) {
					continue
				}
				if !as[frag] {
					t.Errorf("%s: %s has no heading whose anchor is #%s", where, dest, frag)
				}
			}
		}
	}
	require.NotZero(t, checked, "no relative link found: the check checks nothing")
}
