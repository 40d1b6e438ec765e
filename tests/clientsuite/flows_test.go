package clientsuite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Flows that run programs of other languages, and the two command-line
// tools that are flows of their own: mariadb-dump and sysbench.

const connectorJ = "/usr/share/java/mariadb-java-client.jar"

// sqlstateChecks are defaultChecks with the SQLSTATE of the duplicate key,
// for the drivers that report it.
func sqlstateChecks(extra ...string) []string {
	return withChecks("duplicate code", append([]string{"duplicate sqlstate: 23000"}, extra...)...)
}

func javaFlow(name string, serverPrepare bool) flow {
	mode := "client"
	if serverPrepare {
		mode = "server"
	}
	return flow{
		name:   name,
		needs:  []need{program("javac"), program("java"), file(connectorJ, "libmariadb-java")},
		checks: sqlstateChecks("duplicate class: SQLIntegrityConstraintViolationException"),
		run: func(t *testing.T, s *suite, tg *target) (string, error) {
			classes, err := s.compileJava(t)
			if err != nil {
				return "", err
			}
			return runProgram(t, tg, name, sourceDir(t, "java"), "java", "-cp", classes+":"+connectorJ, "Flow", mode)
		},
	}
}

// compileJava compiles java/Flow.java against Connector/J, once.
func (s *suite) compileJava(t *testing.T) (string, error) {
	s.javaOnce.Do(func() {
		dir, err := os.MkdirTemp("", "clientsuite-java-")
		if err != nil {
			s.javaErr = err
			return
		}
		s.javaClasses = dir
		out, err := exec.Command("javac", "-d", dir, "-cp", connectorJ, sourceDir(t, "java/Flow.java")).CombinedOutput()
		if err != nil {
			s.javaErr = fmt.Errorf("javac java/Flow.java: %v\n%s", err, out)
		}
	})
	return s.javaClasses, s.javaErr
}

func nodeFlow(name, mode string) flow {
	return flow{
		name: name,
		needs: []need{program("node"), {
			what: "mysql2 in tests/clientsuite/node/node_modules (`npm ci` there)",
			probe: func() error {
				_, err := os.Stat(filepath.Join("node", "node_modules", "mysql2", "package.json"))
				return err
			},
		}},
		checks: sqlstateChecks(),
		run: func(t *testing.T, s *suite, tg *target) (string, error) {
			return runProgram(t, tg, name, sourceDir(t, "node"), "node", "flow.js", mode)
		},
	}
}

func phpFlow(name, mode string) flow {
	return flow{
		name: name,
		needs: []need{program("php"), {
			what: "PHP's pdo_mysql and mysqli extensions (Debian package php-mysql)",
			probe: func() error {
				return exec.Command("php", "-r", `exit(extension_loaded("pdo_mysql") && extension_loaded("mysqli") ? 0 : 1);`).Run()
			},
		}},
		checks: sqlstateChecks(),
		run: func(t *testing.T, s *suite, tg *target) (string, error) {
			return runProgram(t, tg, name, sourceDir(t, "php"), "php", "flow.php", mode)
		},
	}
}

func perlFlow() flow {
	return flow{
		name: "perl/dbd-mariadb",
		needs: []need{program("perl"), {
			what:  "Perl module DBD::MariaDB (Debian package libdbd-mariadb-perl)",
			probe: func() error { return exec.Command("perl", "-MDBD::MariaDB", "-e", "1").Run() },
		}},
		checks: sqlstateChecks(),
		run: func(t *testing.T, s *suite, tg *target) (string, error) {
			return runProgram(t, tg, "perl/dbd-mariadb", sourceDir(t, "perl"), "perl", "flow.pl")
		},
	}
}

// command runs a command-line tool and returns its standard output and
// error and how it ended.
func command(ctx context.Context, stdin []byte, name string, args ...string) (stdout, stderr string, err error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err = cmd.Run()
	return o.String(), e.String(), err
}

func status(err error) string {
	if err == nil {
		return "ok"
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return fmt.Sprintf("exit status %d", ee.ExitCode())
	}
	return err.Error()
}

// dumpFlow dumps keyspace ks with mariadb-dump's defaults, with
// --single-transaction and with --routines; the transcript holds each dump
// (less the server version, which legitimately differs), so the gate's
// dumps must equal MariaDB's. The default dump is then reloaded with the
// mariadb client into ks2, whose tables must then equal ks's. The dump
// reloaded on both sides is plain MariaDB's (which the gate's must equal
// anyway), so that the reload through the gate is tested even while the
// gate's own dump fails.
func dumpFlow() flow {
	variants := []struct{ name, flag string }{{"default", ""}, {"single-transaction", "--single-transaction"}, {"routines", "--routines"}}
	var checks []string
	for _, v := range variants {
		checks = append(checks, "dump "+v.name+": ok")
	}
	checks = append(checks, "reload: ok", "reloaded tables: equal")
	return flow{
		name:         "mariadb-dump",
		needs:        []need{program("mariadb-dump"), program("mariadb")},
		checks:       checks,
		noTableCheck: true,
		run: func(t *testing.T, s *suite, tg *target) (string, error) {
			ctx, cancel := context.WithTimeout(context.Background(), flowTimeout)
			defer cancel()
			tr := &transcript{}
			conn := []string{"-h", tg.host, "-P", strconv.Itoa(tg.port), "-u", "root"}
			var dump string
			for _, v := range variants {
				args := append(append([]string{}, conn...), "--skip-dump-date")
				if v.flag != "" {
					args = append(args, v.flag)
				}
				out, stderr, err := command(ctx, nil, "mariadb-dump", append(args, keyspace)...)
				tr.out("== dump %s", v.name)
				for _, l := range splitLines(stderr) {
					tr.out("stderr| %s", l)
				}
				for _, l := range sortedInsertRows(splitLines(out)) {
					if !strings.HasPrefix(l, "-- Server version") {
						tr.out("%s", l)
					}
				}
				tr.check("dump "+v.name, status(err))
				if v.name == "default" {
					dump = out
				}
			}
			tr.out("== reload")
			out, stderr, err := command(ctx, []byte(dump), "mariadb", append(conn, dumpKeyspace)...)
			for _, l := range splitLines(out + stderr) {
				tr.out("| %s", l)
			}
			tr.check("reload", status(err))
			want, err := tableContents(tg.db, keyspace)
			if err != nil {
				return tr.String(), err
			}
			got, err := tableContents(tg.db, dumpKeyspace)
			if err != nil {
				tr.out("reading %s back: %s", dumpKeyspace, errText(err))
			}
			if got == want {
				tr.check("reloaded tables", "equal")
			} else {
				tr.check("reloaded tables", "differ")
				tr.out("%s", unifiedDiff(want, got, keyspace, dumpKeyspace))
			}
			tr.out("== end")
			return tr.String(), nil
		},
	}
}

var (
	sysbenchIgnored = regexp.MustCompile(`ignored errors:\s+(\d+)`)
	sysbenchQueries = regexp.MustCompile(`queries:\s+(\d+)`)
)

// sysbenchFlow runs sysbench's oltp_read_write (server-side prepared
// statements, transactions of reads and writes, 4 threads) on one table
// of 1,000 rows for a few seconds, then checks the table kept its rows.
func sysbenchFlow() flow {
	return flow{
		name:         "sysbench",
		needs:        []need{program("sysbench")},
		checks:       []string{"prepare: ok", "run: ok", "queries: some", "rows after: 1000", "cleanup: ok"},
		noTableCheck: true,
		run: func(t *testing.T, s *suite, tg *target) (string, error) {
			ctx, cancel := context.WithTimeout(context.Background(), flowTimeout+time.Minute)
			defer cancel()
			tr := &transcript{}
			args := []string{"oltp_read_write", "--db-driver=mysql", "--mysql-host=" + tg.host, "--mysql-port=" + strconv.Itoa(tg.port),
				"--mysql-user=root", "--mysql-db=" + keyspace, "--tables=1", "--table-size=1000", "--auto-inc=off", "--threads=4"}
			run := func(cmd string, extra ...string) (string, error) {
				out, stderr, err := command(ctx, nil, "sysbench", append(append(args, extra...), cmd)...)
				tr.out("== %s", cmd)
				if err != nil {
					// Only a failure's output goes into the transcript:
					// a run's figures differ from run to run.
					for _, l := range splitLines(out + stderr) {
						tr.out("| %s", l)
					}
				}
				tr.check(cmd, status(err))
				return out, err
			}
			if _, err := run("prepare"); err == nil {
				out, err := run("run", "--time=5")
				if err == nil {
					if q := sysbenchQueries.FindStringSubmatch(out); q != nil && q[1] != "0" {
						tr.check("queries", "some")
					} else {
						tr.check("queries", "none")
					}
					// Deadlocks and lock wait timeouts, which sysbench
					// retries, happen on plain MariaDB too: logged only.
					if ign := sysbenchIgnored.FindStringSubmatch(out); ign != nil {
						t.Logf("sysbench on %s: %s errors ignored and retried", tg.name, ign[1])
					}
				}
				var n int64
				if err := tg.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM sbtest1").Scan(&n); err != nil {
					tr.out("ERROR counting rows: %s", errText(err))
				} else {
					tr.check("rows after", n)
				}
			}
			run("cleanup")
			tr.out("== end")
			return tr.String(), nil
		},
	}
}

// sortedInsertRows returns a dump's lines with the row lines of each
// extended INSERT ("(1,'a'),", ..., "(9,'z');") in sorted order, each
// ending as its position requires.
func sortedInsertRows(lines []string) []string {
	out := make([]string, 0, len(lines))
	var rows []string
	flush := func() {
		sort.Strings(rows)
		for i, r := range rows {
			if i == len(rows)-1 {
				out = append(out, r+";")
			} else {
				out = append(out, r+",")
			}
		}
		rows = nil
	}
	inInsert := false
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "INSERT INTO ") && strings.HasSuffix(l, " VALUES"):
			inInsert = true
			out = append(out, l)
		case inInsert && strings.HasPrefix(l, "(") && (strings.HasSuffix(l, ",") || strings.HasSuffix(l, ";")):
			rows = append(rows, l[:len(l)-1])
			if strings.HasSuffix(l, ";") {
				inInsert = false
				flush()
			}
		default:
			if len(rows) > 0 {
				flush()
			}
			inInsert = false
			out = append(out, l)
		}
	}
	if len(rows) > 0 {
		flush()
	}
	return out
}
