package clientsuite

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// cliFlow runs cli/flow.sql through the mariadb client: two interactive
// sessions fed statement blocks on their standard input, as the script's
// directives say (see the script's header).
func cliFlow() flow {
	return flow{
		name:   "cli",
		needs:  []need{program("mariadb")},
		checks: sqlstateChecks(),
		run: func(t *testing.T, s *suite, tg *target) (string, error) {
			script, err := os.ReadFile(sourceDir(t, "cli/flow.sql"))
			if err != nil {
				return "", err
			}
			return runCLI(tg, string(script))
		},
	}
}

// cliBlock is a run of statements under one directive.
type cliBlock struct {
	kind  string // step, main, other, warnings, error, metadata
	name  string
	stmts string
}

func parseCLIScript(script string) []cliBlock {
	var blocks []cliBlock
	cur := cliBlock{kind: "main"}
	flush := func() {
		if strings.TrimSpace(cur.stmts) != "" || cur.kind == "step" {
			blocks = append(blocks, cur)
		}
	}
	for _, line := range strings.Split(script, "\n") {
		if d, ok := strings.CutPrefix(line, "-- @"); ok {
			flush()
			kind, name, _ := strings.Cut(d, " ")
			cur = cliBlock{kind: kind, name: strings.TrimSpace(name)}
			continue
		}
		if strings.HasPrefix(line, "--") || strings.TrimSpace(line) == "" {
			continue
		}
		cur.stmts += line + "\n"
	}
	flush()
	return blocks
}

// cliSession is one mariadb client reading statements from a pipe, its
// output and errors merged in the order it writes them.
type cliSession struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
	syncs int
}

func cliArgs(tg *target, extra ...string) []string {
	return append([]string{"-h", tg.host, "-P", strconv.Itoa(tg.port), "-u", "root"}, append(extra, keyspace)...)
}

func startCLISession(ctx context.Context, tg *target) (*cliSession, error) {
	// --force goes on after errors, as an interactive session does;
	// --unbuffered writes each answer at once.
	cmd := exec.CommandContext(ctx, "mariadb", cliArgs(tg, "--batch", "--unbuffered", "--show-warnings", "--force")...)
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = w, w
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	w.Close()
	return &cliSession{cmd: cmd, stdin: stdin, out: bufio.NewReader(r)}, nil
}

// run sends statements and returns what the client printed for them: it
// reads until the answer of a marker SELECT sent after them.
func (s *cliSession) run(stmts string) ([]string, error) {
	s.syncs++
	marker := fmt.Sprintf("~sync %d~", s.syncs)
	if _, err := fmt.Fprintf(s.stdin, "%sSELECT '%s' AS sync;\n", stmts, marker); err != nil {
		return nil, err
	}
	var lines []string
	for {
		line, err := s.out.ReadString('\n')
		if err != nil {
			return lines, fmt.Errorf("the client ended (%v) before answering:\n%s", err, strings.Join(lines, "\n"))
		}
		line = strings.TrimSuffix(line, "\n")
		if line == marker {
			if n := len(lines); n > 0 && (lines[n-1] == "sync" || lines[n-1] == marker) {
				lines = lines[:n-1]
			}
			return lines, nil
		}
		lines = append(lines, line)
	}
}

func (s *cliSession) close() {
	s.stdin.Close()
	_ = s.cmd.Wait()
}

var (
	cliWarning = regexp.MustCompile(`^Warning \(Code (\d+)\): `)
	cliError   = regexp.MustCompile(`^ERROR (\d+) \(([0-9A-Z]{5})\)`)
)

// sanitize escapes what is not printable UTF-8 text in a line the client
// printed (binary column values), so that transcripts and diffs stay
// readable.
func sanitize(line string) string {
	if printable([]byte(strings.ReplaceAll(line, "\t", " "))) {
		return line
	}
	var b strings.Builder
	for i := 0; i < len(line); {
		r, size := utf8.DecodeRuneInString(line[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, "\\x%02x", line[i])
		case r != '\t' && unicode.IsControl(r):
			fmt.Fprintf(&b, "\\x%02x", r)
		default:
			b.WriteRune(r)
		}
		i += size
	}
	return b.String()
}

func runCLI(tg *target, script string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), flowTimeout)
	defer cancel()
	tr := &transcript{}
	main, err := startCLISession(ctx, tg)
	if err != nil {
		return "", err
	}
	defer main.close()
	other, err := startCLISession(ctx, tg)
	if err != nil {
		return "", err
	}
	defer other.close()
	// Error lines become "client error ...": ERROR at the start of a line
	// is what the other flows print for errors they did not expect.
	emit := func(prefix string, lines []string) {
		for _, l := range lines {
			l = sanitize(l)
			if strings.HasPrefix(l, "ERROR ") {
				l = "client error " + strings.TrimPrefix(l, "ERROR ")
			}
			if strings.HasPrefix(l, "CHECK ") {
				tr.out("%s", l)
			} else {
				tr.out("%s%s", prefix, l)
			}
		}
	}
	for _, b := range parseCLIScript(script) {
		switch b.kind {
		case "step":
			tr.out("== %s", b.name)
			if b.stmts == "" {
				continue
			}
			fallthrough
		case "main", "warnings", "error":
			lines, err := main.run(b.stmts)
			emit("", lines)
			if err != nil {
				return tr.String(), err
			}
			switch b.kind {
			case "warnings":
				var codes []string
				for _, l := range lines {
					if m := cliWarning.FindStringSubmatch(l); m != nil {
						codes = append(codes, m[1])
					}
				}
				tr.check(b.name, strings.Join(codes, " "))
			case "error":
				for _, l := range lines {
					if m := cliError.FindStringSubmatch(l); m != nil {
						tr.check(b.name+" code", m[1])
						tr.check(b.name+" sqlstate", m[2])
					}
				}
			}
		case "other":
			lines, err := other.run(b.stmts)
			emit("other| ", lines)
			if err != nil {
				return tr.String(), err
			}
		case "metadata":
			// The client prints column types only in table mode.
			cmd := exec.CommandContext(ctx, "mariadb", cliArgs(tg, "--table", "--column-type-info", "-e", b.stmts)...)
			out, err := cmd.CombinedOutput()
			emit("", splitLines(string(out)))
			if err != nil {
				return tr.String(), fmt.Errorf("mariadb --column-type-info: %v", err)
			}
		default:
			return tr.String(), fmt.Errorf("cli/flow.sql: unknown directive @%s", b.kind)
		}
	}
	tr.out("== end")
	return tr.String(), nil
}

func TestParseCLIScript(t *testing.T) {
	got := parseCLIScript("-- header\n-- @step one\nSELECT 1;\n-- @other\nSELECT 2;\n\n-- @step two\n-- @warnings w\nSELECT 3;\n")
	want := []cliBlock{
		{kind: "step", name: "one", stmts: "SELECT 1;\n"},
		{kind: "other", stmts: "SELECT 2;\n"},
		{kind: "step", name: "two"},
		{kind: "warnings", name: "w", stmts: "SELECT 3;\n"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("parseCLIScript:\n got %q\nwant %q", got, want)
	}
}

func TestSanitize(t *testing.T) {
	for in, want := range map[string]string{
		"1\tünï €\tx":      "1\tünï €\tx",
		"1\t\xff\x00\x01a": "1\t\\xff\\x00\\x01a",
	} {
		if got := sanitize(in); got != want {
			t.Errorf("sanitize(%q) = %q, want %q", in, got, want)
		}
	}
}
