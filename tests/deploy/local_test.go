package deploy

// What TestComposeClusterServes and TestKubernetesClusterServes share: both
// run the processes a deployment file describes on this host's loopback,
// with the file's names and ports mapped to local ones, its volumes to
// temporary directories and its images' binaries to the repository's bin/.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shardgate/shardgate/internal/freeport"

	_ "github.com/go-sql-driver/mysql"
)

// addrRe finds the addresses a command names: NAME:PORT, where NAME is a
// DNS name or an IPv4 address (or nothing, as in :7070), and --x-port=PORT
// flags (NAME is then the flag's word before -port).
var addrRe = regexp.MustCompile(`(?:\b([a-z0-9](?:[a-z0-9.-]*[a-z0-9])?)\b)?(:|-port=)(\d{2,5})\b`)

// addrMapper maps the addresses one process is given to this host's.
type addrMapper interface {
	// mapAddr maps NAME:PORT (flag false) or a --x-port=PORT flag (flag
	// true, name the flag's word) to a local host and port; ok false
	// leaves the address as written.
	mapAddr(name string, port int, flag bool) (host string, local int, ok bool)
	// isLocalName reports whether name, given as --hostname, stands for a
	// process of the cluster (and so for 127.0.0.1 here).
	isLocalName(name string) bool
}

// rewrite maps one string of a command or environment value to this host:
// addresses by am, --hostname=NAME to 127.0.0.1 where NAME is the
// cluster's, and container paths on a mount to the mount's local path.
func rewrite(s string, am addrMapper, mounts map[string]string) string {
	s = addrRe.ReplaceAllStringFunc(s, func(m string) string {
		sub := addrRe.FindStringSubmatch(m)
		name, sep, port := sub[1], sub[2], sub[3]
		n, _ := strconv.Atoi(port)
		host, local, ok := am.mapAddr(name, n, sep != ":")
		if !ok {
			return m
		}
		return host + sep + strconv.Itoa(local)
	})
	if name, ok := strings.CutPrefix(s, "--hostname="); ok && am.isLocalName(name) {
		s = "--hostname=127.0.0.1"
	}
	for _, target := range sortedTargets(mounts) {
		s = replacePath(s, target, mounts[target])
	}
	return s
}

// replacePath replaces the container path target, where it is a whole
// path or a path's prefix, with local.
func replacePath(s, target, local string) string {
	re := regexp.MustCompile(regexp.QuoteMeta(target) + `(/|\b|$)`)
	return re.ReplaceAllStringFunc(s, func(m string) string { return local + strings.TrimPrefix(m, target) })
}

// imagePath is the PATH of the images (Debian's default), after the
// directory of the image's binaries.
const imagePath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// proc is one running process of a cluster.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
	// grace is how long it may take to stop after SIGTERM (compose's
	// stop_grace_period, a pod's terminationGracePeriodSeconds).
	grace time.Duration
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// procSpec is a process to run, already mapped to this host.
type procSpec struct {
	name  string   // its log's name
	args  []string // args[0] is looked up in env's PATH, as the image would
	env   []string // the whole environment, PATH included
	dir   string
	cred  *syscall.Credential // nil: as the test's own user
	stdin []byte
	grace time.Duration
}

// runner runs one test's processes, each in its own process group with
// its output in a log file of the work directory, and kills whatever is
// left when the test ends.
type runner struct {
	t    *testing.T
	work string            // volumes, files, logs; kept when the test fails
	bins map[string]string // binary name -> its path in the repository's bin/

	mu    sync.Mutex
	procs []*proc
	// serverDirs are data directories whose mariadbd must not outlive
	// the test.
	serverDirs []string
}

// newRunner makes the work directory and finds the repository's binaries
// (SHARDGATE_TEST_BIN_DIR, as `make integration` sets it); the test is
// skipped without them.
func newRunner(t *testing.T, name string) *runner {
	t.Helper()
	binDir := os.Getenv("SHARDGATE_TEST_BIN_DIR")
	if binDir == "" {
		t.Skip("SHARDGATE_TEST_BIN_DIR is not set: run `make integration` (or make build and set it to bin/)")
	}
	binDir, _ = filepath.Abs(binDir)
	work, err := os.MkdirTemp("", name)
	if err != nil {
		t.Fatal(err)
	}
	// Processes that run as an image's user must reach their directories.
	if err := os.Chmod(work, 0o755); err != nil {
		t.Fatal(err)
	}
	r := &runner{t: t, work: work, bins: map[string]string{}}
	t.Cleanup(r.cleanup)
	for name, src := range map[string]string{
		"shardgate": filepath.Join(binDir, "shardgate"), "shardtablet": filepath.Join(binDir, "shardtablet"), "shardctl": filepath.Join(binDir, "shardctl"),
		"etcd": filepath.Join(binDir, "tools", "etcd"), "versitygw": filepath.Join(binDir, "tools", "versitygw"),
	} {
		if _, err := os.Stat(src); err != nil {
			t.Fatalf("%s: %v (make build, make deps)", name, err)
		}
		r.bins[name] = src
	}
	for _, tool := range []string{"curl", "sh", "sleep", "mariadbd"} {
		if _, err := lookPathIn(tool, imagePath); err != nil {
			t.Fatalf("%s is not installed (make deps): %v", tool, err)
		}
	}
	return r
}

// binDir is a directory holding the binaries an image holds, for the
// front of its processes' PATH: a command that calls a binary its image
// lacks fails here as it would in the container.
func (r *runner) binDir(image string, binaries []string) string {
	r.t.Helper()
	dir := filepath.Join(r.work, "bin", strings.NewReplacer("/", "_", ":", "_").Replace(image))
	if _, err := os.Stat(dir); err == nil {
		return dir
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		r.t.Fatal(err)
	}
	for _, b := range binaries {
		src, ok := r.bins[b]
		if !ok {
			r.t.Fatalf("image %s holds %s, which this test does not know how to provide", image, b)
		}
		if err := os.Symlink(src, filepath.Join(dir, b)); err != nil {
			r.t.Fatal(err)
		}
	}
	return dir
}

// lookPathIn finds name in pathList, as a process with that PATH would.
func lookPathIn(name, pathList string) (string, error) {
	if strings.Contains(name, "/") {
		return exec.LookPath(name)
	}
	for _, dir := range filepath.SplitList(pathList) {
		if p, err := exec.LookPath(filepath.Join(dir, name)); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: not found in PATH %s", name, pathList)
}

func envValue(env []string, name string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], name+"="); ok {
			return v
		}
	}
	return ""
}

// command makes spec's process, with output to out. As a container
// runtime does (runc's fixStdioPermissions), the standard streams belong
// to the process's user, so that it may open /dev/stdin and /dev/stderr.
func (r *runner) command(spec procSpec, out *os.File) (*exec.Cmd, error) {
	path, err := lookPathIn(spec.args[0], envValue(spec.env, "PATH"))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", spec.name, err)
	}
	cmd := exec.Command(path, spec.args[1:]...)
	cmd.Args[0] = spec.args[0]
	cmd.Env = spec.env
	cmd.Dir = spec.dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: spec.cred}
	if spec.cred != nil {
		if err := out.Chown(int(spec.cred.Uid), int(spec.cred.Gid)); err != nil {
			return nil, fmt.Errorf("%s: hand its output to uid %d: %w", spec.name, spec.cred.Uid, err)
		}
	}
	if spec.stdin != nil {
		rd, wr, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		if spec.cred != nil {
			if err := rd.Chown(int(spec.cred.Uid), int(spec.cred.Gid)); err != nil {
				return nil, fmt.Errorf("%s: hand its standard input to uid %d: %w", spec.name, spec.cred.Uid, err)
			}
		}
		cmd.Stdin = rd
		go func() { _, _ = wr.Write(spec.stdin); wr.Close() }()
	}
	return cmd, nil
}

func (r *runner) logPath(name string) string { return filepath.Join(r.work, "logs", name+".log") }

// logFile opens a process's log in the work directory, for appending.
func (r *runner) logFile(name string) (*os.File, error) {
	path := r.logPath(name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	return os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
}

// start starts a long-running process (or a job's run).
func (r *runner) start(spec procSpec) *proc {
	r.t.Helper()
	f, err := r.logFile(spec.name)
	if err != nil {
		r.t.Fatal(err)
	}
	defer f.Close()
	cmd, err := r.command(spec, f)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		r.t.Fatalf("%s: start %q: %v", spec.name, cmd.Args, err)
	}
	if cmd.Stdin != nil {
		cmd.Stdin.(*os.File).Close() // the child has its copy
	}
	pr := &proc{name: spec.name, cmd: cmd, log: f.Name(), done: make(chan struct{}), grace: spec.grace}
	go func() { pr.err = cmd.Wait(); close(pr.done) }()
	r.mu.Lock()
	r.procs = append(r.procs, pr)
	for _, a := range cmd.Args {
		// A tablet's mariadbd keeps its pid file in the tablet's data
		// directory; it must not outlive the test.
		if dir, ok := strings.CutPrefix(a, "--mysqld-data-dir="); ok {
			r.serverDirs = append(r.serverDirs, dir)
		}
	}
	r.mu.Unlock()
	r.t.Logf("started %s: %s", spec.name, strings.Join(cmd.Args, " "))
	return pr
}

// output runs a short command (a health check, a kubectl exec) to its end
// and returns what it wrote, which its log keeps too.
func (r *runner) output(ctx context.Context, spec procSpec) ([]byte, error) {
	f, err := r.logFile(spec.name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	offset := fileSize(f.Name())
	cmd, err := r.command(spec, f)
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: start %q: %w", spec.name, cmd.Args, err)
	}
	if cmd.Stdin != nil {
		cmd.Stdin.(*os.File).Close()
	}
	stop := context.AfterFunc(ctx, func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	err = cmd.Wait()
	stop()
	data, _ := os.ReadFile(f.Name())
	if int(offset) <= len(data) {
		data = data[offset:]
	}
	if err != nil {
		return data, fmt.Errorf("%s: %w", strings.Join(cmd.Args, " "), err)
	}
	return data, nil
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// runJob runs a one-shot process to success, running it again after a
// failure as compose's restart: on-failure and a Job's restartPolicy
// OnFailure do (the cluster's other processes may still be starting), at
// most attempts times.
func (r *runner) runJob(ctx context.Context, name string, attempts int, start func() *proc) {
	r.t.Helper()
	for attempt := 1; ; attempt++ {
		pr := start()
		select {
		case <-pr.done:
		case <-ctx.Done():
			r.t.Fatalf("%s did not finish", name)
		}
		if pr.err == nil {
			return
		}
		if attempt >= attempts {
			r.t.Fatalf("%s failed %d times, last: %v\n%s", name, attempt, pr.err, tail(pr.log, 30))
		}
		r.t.Logf("%s failed (%v): run it again, as its restart policy does", name, pr.err)
		time.Sleep(time.Second)
	}
}

// waitUntil polls check until it passes; the test fails when pr exits
// first or ctx ends.
func waitUntil(t *testing.T, ctx context.Context, pr *proc, what string, check func() error) {
	t.Helper()
	for {
		err := check()
		if err == nil {
			return
		}
		if pr.exited() || ctx.Err() != nil {
			t.Fatalf("%s: %v (%s exited: %v, %v)\n%s", what, err, pr.name, pr.exited(), pr.err, tail(pr.log, 30))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// httpGetOK is an HTTP probe: a status from 200 to 399 passes, as the
// kubelet and curl -f count it.
func httpGetOK(url string, timeout time.Duration) error {
	client := &http.Client{Timeout: timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// terminate sends pr SIGTERM and checks that it exits by itself, cleanly,
// within its grace period counted from began (a pod's preStop hook runs
// before SIGTERM, within the same period). Safe to call from goroutines.
func (r *runner) terminate(pr *proc, began time.Time) {
	if pr.exited() {
		r.t.Errorf("%s had exited before it was stopped: %v\n%s", pr.name, pr.err, tail(pr.log, 20))
		return
	}
	_ = pr.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-pr.done:
	case <-time.After(time.Until(began.Add(pr.grace))):
		r.t.Errorf("%s did not stop within its grace period %v after SIGTERM", pr.name, pr.grace)
		_ = syscall.Kill(-pr.cmd.Process.Pid, syscall.SIGKILL)
		<-pr.done
		return
	}
	var exitErr *exec.ExitError
	switch {
	case pr.err == nil:
	case !errors.As(pr.err, &exitErr):
		r.t.Errorf("%s: %v", pr.name, pr.err)
	case filepath.Base(pr.cmd.Args[0]) == "etcd" && killedBy(exitErr, syscall.SIGTERM):
		// etcd shuts down on SIGTERM and then raises it again
		// (osutil.HandleInterrupts): a clean stop ends so.
	default:
		r.t.Errorf("%s exited with %v after SIGTERM, want status 0\n%s", pr.name, pr.err, tail(pr.log, 20))
	}
	r.t.Logf("%s stopped %v after its stop began (grace %v)", pr.name, time.Since(began).Round(time.Millisecond), pr.grace)
}

func killedBy(err *exec.ExitError, sig syscall.Signal) bool {
	ws, ok := err.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == sig
}

// serversLeft are the mariadbd processes of the watched data directories
// that still run, by pid file.
func (r *runner) serversLeft() map[string]int {
	left := map[string]int{}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, dir := range r.serverDirs {
		matches, _ := filepath.Glob(filepath.Join(dir, "*.pid"))
		for _, m := range matches {
			data, _ := os.ReadFile(m)
			if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && syscall.Kill(pid, 0) == nil {
				left[m] = pid
			}
		}
	}
	return left
}

// checkServersStopped fails the test for each mariadbd still running
// after its tablet stopped: nothing should be left for the container's
// end to kill.
func (r *runner) checkServersStopped() {
	for pidFile, pid := range r.serversLeft() {
		r.t.Errorf("mariadbd (pid %d, %s) still runs after its tablet stopped", pid, pidFile)
	}
}

// cleanup kills what still runs; on failure it logs the end of each
// process's log and keeps the work directory.
func (r *runner) cleanup() {
	r.mu.Lock()
	procs := append([]*proc{}, r.procs...)
	r.mu.Unlock()
	for _, pr := range procs {
		if !pr.exited() {
			_ = syscall.Kill(-pr.cmd.Process.Pid, syscall.SIGKILL)
			<-pr.done
		}
	}
	for _, pid := range r.serversLeft() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	if !r.t.Failed() {
		os.RemoveAll(r.work)
		return
	}
	seen := map[string]bool{}
	for _, pr := range procs {
		if !seen[pr.log] {
			seen[pr.log] = true
			r.t.Logf("--- %s (%s), last lines:\n%s", pr.name, pr.log, tail(pr.log, 15))
		}
	}
	r.t.Logf("logs and data kept in %s", r.work)
}

// freePort is a port for a server the test starts (see internal/freeport:
// not one the kernel may give an outgoing connection meanwhile).
func freePort(t *testing.T) int {
	t.Helper()
	port, err := freeport.Get()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

func tail(path string, n int) string {
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// checkCustomers writes 40 customers of the commerce example through db
// (a gate) and reads them back: the gate sees all 40, each shard holds
// some and not all.
func checkCustomers(t *testing.T, ctx context.Context, db *sql.DB) {
	t.Helper()
	for i := 1; i <= 40; i++ {
		if _, err := db.ExecContext(ctx, "insert into customer (customer_id, email) values (?, ?)", i, fmt.Sprintf("c%d@example.com", i)); err != nil {
			t.Fatalf("insert through the gate: %v", err)
		}
	}
	var n int
	if err := db.QueryRowContext(ctx, "select count(*) from customer").Scan(&n); err != nil || n != 40 {
		t.Fatalf("count through the gate: %d, %v; want 40", n, err)
	}
	for _, shard := range []string{"-80", "80-"} {
		var c int
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err = conn.ExecContext(ctx, "use `commerce:"+shard+"`"); err == nil {
			err = conn.QueryRowContext(ctx, "select count(*) from customer").Scan(&c)
		}
		conn.Close()
		if err != nil || c == 0 || c == 40 {
			t.Errorf("shard %s holds %d of the 40 rows (%v): want some, not all", shard, c, err)
		}
	}
}
