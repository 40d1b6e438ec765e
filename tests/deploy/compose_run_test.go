package deploy

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	_ "github.com/go-sql-driver/mysql"
)

// host maps what a compose file names onto this machine's loopback.
type host struct {
	ports    map[int]int // compose port -> free local port
	services []string
	binDir   string // a directory of the images' binaries, first on PATH
	work     string
}

var hostPortRe = regexp.MustCompile(`(?:\b([a-z][a-z0-9-]*|0\.0\.0\.0|127\.0\.0\.1)\b)?(:|-port=)(\d{2,5})\b`)

// rewrite maps one string of a command: service names and 0.0.0.0 before
// a port become 127.0.0.1, ports become their free local ports,
// --hostname=SERVICE becomes 127.0.0.1, and container paths on a mount
// become the mount's local path.
func (h *host) rewrite(s string, mounts map[string]string) string {
	isService := func(name string) bool {
		for _, n := range h.services {
			if n == name {
				return true
			}
		}
		return name == "0.0.0.0"
	}
	s = hostPortRe.ReplaceAllStringFunc(s, func(m string) string {
		sub := hostPortRe.FindStringSubmatch(m)
		hostName, sep, port := sub[1], sub[2], sub[3]
		n, _ := strconv.Atoi(port)
		local, ok := h.ports[n]
		if !ok {
			return m
		}
		if sep == ":" && isService(hostName) {
			hostName = "127.0.0.1"
		}
		return hostName + sep + strconv.Itoa(local)
	})
	if name, ok := strings.CutPrefix(s, "--hostname="); ok && isService(name) {
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

// proc is one service's process.
type proc struct {
	name  string
	cmd   *exec.Cmd
	log   string
	done  chan struct{}
	err   error
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

// localMounts gives each of a service's mounts a local path: named
// volumes a directory of the work dir (shared by the services that mount
// the volume, as in compose), secrets and configs their files, copied
// with mode 0600 as the tablets' secret files require.
func (h *host) localMounts(t *testing.T, p *types.Project, svc types.ServiceConfig) map[string]string {
	t.Helper()
	out := map[string]string{}
	for target, src := range mountTargets(p, svc) {
		kind, name, _ := strings.Cut(src, ":")
		switch kind {
		case "volume":
			dir := filepath.Join(h.work, "volumes", name)
			if err := os.MkdirAll(dir, 0o750); err != nil {
				t.Fatal(err)
			}
			out[target] = dir
		case "file":
			data, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			local := filepath.Join(h.work, "files", svc.Name, strings.TrimPrefix(target, "/"))
			if err := os.MkdirAll(filepath.Dir(local), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(local, data, 0o600); err != nil {
				t.Fatal(err)
			}
			out[target] = local
		}
	}
	return out
}

// command is a service's process on this host: its argv and environment
// rewritten, run with only the compose environment and a PATH that
// finds the images' binaries.
func (h *host) command(t *testing.T, p *types.Project, svc types.ServiceConfig, args []string) *exec.Cmd {
	t.Helper()
	mounts := h.localMounts(t, p, svc)
	local := make([]string, len(args))
	for i, a := range args {
		local[i] = h.rewrite(a, mounts)
	}
	cwd := filepath.Join(h.work, "cwd", svc.Name)
	if err := os.MkdirAll(cwd, 0o750); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + h.binDir + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + cwd, "TMPDIR=" + os.TempDir()}
	for k, v := range svc.Environment {
		if v != nil {
			env = append(env, k+"="+h.rewrite(*v, mounts))
		}
	}
	path, err := exec.LookPath(filepath.Join(h.binDir, local[0]))
	if err != nil {
		if path, err = exec.LookPath(local[0]); err != nil {
			t.Fatalf("service %s: %s: %v", svc.Name, local[0], err)
		}
	}
	cmd := exec.Command(path, local[1:]...)
	cmd.Args[0] = local[0]
	cmd.Env = env
	cmd.Dir = cwd
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

func (h *host) start(t *testing.T, p *types.Project, svc types.ServiceConfig, args []string) *proc {
	t.Helper()
	cmd := h.command(t, p, svc, args)
	logPath := filepath.Join(h.work, "logs", svc.Name+".log")
	_ = os.MkdirAll(filepath.Dir(logPath), 0o750)
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatalf("service %s: start %s: %v", svc.Name, fmtArgs(cmd.Args), err)
	}
	f.Close()
	grace := 10 * time.Second // compose's default
	if svc.StopGracePeriod != nil {
		grace = time.Duration(*svc.StopGracePeriod)
	}
	pr := &proc{name: svc.Name, cmd: cmd, log: logPath, done: make(chan struct{}), grace: grace}
	go func() { pr.err = cmd.Wait(); close(pr.done) }()
	t.Logf("started %s: %s", svc.Name, strings.Join(cmd.Args, " "))
	return pr
}

// healthy runs a service's health check once, as the container would.
// etcd's image runs etcdctl, which this host lacks: its check is the
// HTTP request etcdctl's endpoint health makes (GET /health).
func (h *host) healthy(t *testing.T, p *types.Project, svc types.ServiceConfig) error {
	test := []string(svc.HealthCheck.Test)
	if len(test) == 0 || test[0] != "CMD" {
		t.Fatalf("service %s: health check %q: want the exec form [\"CMD\", ...]", svc.Name, test)
	}
	args := test[1:]
	if args[0] == "etcdctl" {
		var endpoint string
		for _, a := range args {
			if v, ok := strings.CutPrefix(a, "--endpoints="); ok {
				endpoint = h.rewrite(v, nil)
			}
		}
		resp, err := http.Get(endpoint + "/health")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("etcd /health: %s", resp.Status)
		}
		return nil
	}
	cmd := h.command(t, p, svc, args)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(cmd.Args, " "), err, out)
	}
	return nil
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func tail(path string, n int) string {
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func TestComposeClusterServes(t *testing.T) {
	binDir := os.Getenv("SHARDGATE_TEST_BIN_DIR")
	if binDir == "" {
		t.Skip("SHARDGATE_TEST_BIN_DIR is not set: run `make integration` (or make build and set it to bin/)")
	}
	binDir, _ = filepath.Abs(binDir)
	began := time.Now()
	p := loadCompose(t)
	stages := parseDockerfile(t)

	// The images' binaries, as the images have them on PATH.
	work, err := os.MkdirTemp("", "compose")
	if err != nil {
		t.Fatal(err)
	}
	keep := false
	defer func() {
		if keep {
			t.Logf("logs and data kept in %s", work)
		} else {
			os.RemoveAll(work)
		}
	}()
	h := &host{ports: map[int]int{}, binDir: filepath.Join(work, "bin"), work: work}
	if err := os.MkdirAll(h.binDir, 0o750); err != nil {
		t.Fatal(err)
	}
	for name, src := range map[string]string{
		"shardgate": filepath.Join(binDir, "shardgate"), "shardtablet": filepath.Join(binDir, "shardtablet"), "shardctl": filepath.Join(binDir, "shardctl"),
		"etcd": filepath.Join(binDir, "tools", "etcd"), "versitygw": filepath.Join(binDir, "tools", "versitygw"),
	} {
		if _, err := os.Stat(src); err != nil {
			t.Fatalf("%s: %v (make build, make deps)", name, err)
		}
		if err := os.Symlink(src, filepath.Join(h.binDir, name)); err != nil {
			t.Fatal(err)
		}
	}
	for _, tool := range []string{"curl", "sh", "mariadbd"} {
		if _, err := exec.LookPath(tool); err != nil {
			if _, err2 := exec.LookPath("/usr/sbin/" + tool); err2 != nil {
				t.Fatalf("%s is not installed (make deps): %v", tool, err)
			}
		}
	}

	// Every port the file names gets a free local port.
	all := p.AllServices()
	argvs := map[string][]string{}
	for _, svc := range all {
		h.services = append(h.services, svc.Name)
		argvs[svc.Name] = argv(t, svc, stages)
		texts := append([]string{}, argvs[svc.Name]...)
		if svc.HealthCheck != nil {
			texts = append(texts, svc.HealthCheck.Test...)
		}
		for _, s := range texts {
			for _, m := range hostPortRe.FindAllStringSubmatch(s, -1) {
				n, _ := strconv.Atoi(m[3])
				if _, ok := h.ports[n]; !ok {
					h.ports[n] = freePort(t)
				}
			}
		}
	}
	t.Logf("ports: %v", h.ports)

	procs := map[string]*proc{}
	var order []string
	defer func() {
		for _, pr := range procs {
			if !pr.exited() {
				_ = syscall.Kill(-pr.cmd.Process.Pid, syscall.SIGKILL)
				<-pr.done
			}
		}
		if t.Failed() {
			keep = true
			for _, name := range order {
				t.Logf("--- %s (%s), last lines:\n%s", name, procs[name].log, tail(procs[name].log, 15))
			}
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	var startService func(name string)
	startService = func(name string) {
		if _, ok := procs[name]; ok {
			return
		}
		svc := p.Services[name]
		for dep, d := range svc.DependsOn {
			startService(dep)
			depSvc := p.Services[dep]
			switch d.Condition {
			case types.ServiceConditionStarted:
			case types.ServiceConditionHealthy:
				for {
					err := h.healthy(t, p, depSvc)
					if err == nil {
						break
					}
					if procs[dep].exited() || ctx.Err() != nil {
						t.Fatalf("%s: waiting for %s to be healthy: %v (exited: %v)", name, dep, err, procs[dep].exited())
					}
					time.Sleep(500 * time.Millisecond)
				}
			case types.ServiceConditionCompletedSuccessfully:
				select {
				case <-procs[dep].done:
				case <-ctx.Done():
					t.Fatalf("%s: %s did not complete", name, dep)
				}
				if procs[dep].err != nil {
					t.Fatalf("%s: %s failed: %v", name, dep, procs[dep].err)
				}
			default:
				t.Fatalf("%s: depends_on %s with condition %q", name, dep, d.Condition)
			}
		}
		pr := h.start(t, p, svc, argvs[name])
		procs[name] = pr
		order = append(order, name)
		// A one-shot job with restart: on-failure runs again, as compose
		// restarts it (the cluster's other services may still be starting).
		if svc.Restart == types.RestartPolicyOnFailure {
			for attempt := 1; ; attempt++ {
				select {
				case <-pr.done:
				case <-ctx.Done():
					t.Fatalf("%s did not finish", name)
				}
				if pr.err == nil || attempt == 10 {
					break
				}
				t.Logf("%s failed (%v): run again, as restart: on-failure does", name, pr.err)
				time.Sleep(time.Second)
				pr = h.start(t, p, svc, argvs[name])
				procs[name] = pr
			}
			if pr.err != nil {
				t.Fatalf("%s failed: %v\n%s", name, pr.err, tail(pr.log, 30))
			}
		}
	}
	for _, name := range h.services {
		// `docker compose up` starts the services of no profile.
		if svc, enabled := p.Services[name]; enabled && len(svc.Profiles) == 0 {
			startService(name)
		}
	}
	// Everything with a health check becomes healthy.
	for _, name := range order {
		svc := p.Services[name]
		if svc.HealthCheck == nil || procs[name].exited() {
			continue
		}
		for {
			err := h.healthy(t, p, svc)
			if err == nil {
				break
			}
			if procs[name].exited() || ctx.Err() != nil {
				t.Fatalf("%s never became healthy: %v", name, err)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	t.Logf("cluster up and healthy after %v", time.Since(began).Round(time.Millisecond))

	// A user connects to the published MySQL port with the users file's
	// password and uses both shards.
	gatePort := h.ports[15306]
	db, err := sql.Open("mysql", fmt.Sprintf("root:shardgate-demo@tcp(127.0.0.1:%d)/commerce?timeout=5s", gatePort))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
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
	// The app user of the users file reaches commerce too.
	app, err := sql.Open("mysql", fmt.Sprintf("app:app-demo@tcp(127.0.0.1:%d)/commerce?timeout=5s", gatePort))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	if err := app.QueryRowContext(ctx, "select count(*) from customer where customer_id = 7").Scan(&n); err != nil || n != 1 {
		t.Errorf("app user reads: %d, %v", n, err)
	}

	// The admin UI answers on its published port.
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", h.ports[15000]))
	if err != nil {
		t.Fatalf("admin UI: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("admin UI /: %s", resp.Status)
	}

	// A backup to the S3 store, as `docker compose run --rm shardctl
	// backup create commerce` runs it (the tools profile's service).
	tool, ok := p.DisabledServices["shardctl"]
	if !ok {
		tool = p.Services["shardctl"]
	}
	noCommand := tool
	noCommand.Command = types.ShellCommand{}
	toolArgs := append(argv(t, noCommand, stages), "backup", "create", "commerce")
	backup := h.command(t, p, tool, toolArgs)
	if out, err := backup.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(backup.Args, " "), err, out)
	}
	list := h.command(t, p, tool, append(toolArgs[:len(toolArgs)-3:len(toolArgs)-3], "backup", "list", "commerce/80-"))
	out, err := list.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "zone1-200") {
		t.Fatalf("%s: %v\n%s\nwant a backup by zone1-200", strings.Join(list.Args, " "), err, out)
	}
	t.Logf("backup list commerce/80-:\n%s", out)
	// The objects are in the store's volume, in the bucket the init job made.
	var objects int
	_ = filepath.WalkDir(filepath.Join(work, "volumes", "s3-data", "backups"), func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			objects++
		}
		return nil
	})
	if objects == 0 {
		t.Errorf("the S3 store's volume holds no object in bucket backups")
	}

	// docker compose stop: dependents first, each SIGTERM then, after its
	// stop_grace_period, SIGKILL. Every process must exit by itself, with
	// status 0, within its grace period.
	for i := len(order) - 1; i >= 0; i-- {
		pr := procs[order[i]]
		if pr.exited() {
			continue
		}
		stopAt := time.Now()
		_ = pr.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-pr.done:
		case <-time.After(pr.grace):
			t.Errorf("%s did not stop within its stop_grace_period %v after SIGTERM", pr.name, pr.grace)
			_ = syscall.Kill(-pr.cmd.Process.Pid, syscall.SIGKILL)
			<-pr.done
			continue
		}
		took := time.Since(stopAt)
		var exitErr *exec.ExitError
		if pr.err != nil && !errors.As(pr.err, &exitErr) {
			t.Errorf("%s: %v", pr.name, pr.err)
		} else if pr.err != nil && !(pr.name == "etcd" && killedBy(exitErr, syscall.SIGTERM)) {
			// etcd shuts down on SIGTERM and then raises it again
			// (osutil.HandleInterrupts): a clean stop ends so.
			t.Errorf("%s exited with %v after SIGTERM, want status 0", pr.name, pr.err)
		}
		t.Logf("%s stopped in %v (grace %v)", pr.name, took.Round(time.Millisecond), pr.grace)
	}
	// A tablet's mariadbd stops with it (--stop-mysqld-on-exit): nothing
	// is left for the container's end to kill.
	for _, vol := range []string{"shard-a-data", "shard-b-data"} {
		matches, _ := filepath.Glob(filepath.Join(work, "volumes", vol, "*", "*.pid"))
		for _, m := range matches {
			data, _ := os.ReadFile(m)
			if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && syscall.Kill(pid, 0) == nil {
				t.Errorf("%s: mariadbd (pid %d, %s) still runs after its tablet stopped", vol, pid, m)
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	t.Logf("whole run: %v", time.Since(began).Round(time.Millisecond))
}

func killedBy(err *exec.ExitError, sig syscall.Signal) bool {
	ws, ok := err.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == sig
}
