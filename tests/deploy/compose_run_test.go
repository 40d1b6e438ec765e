package deploy

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
)

// composeHost maps what a compose file names onto this machine's loopback:
// every service name and 0.0.0.0 is 127.0.0.1, and each port (no two
// services share one) a free local port.
type composeHost struct {
	*runner
	p        *types.Project
	stages   map[string]dockerStage
	ports    map[int]int // compose port -> free local port
	services []string
}

func (h *composeHost) mapAddr(name string, port int, flag bool) (string, int, bool) {
	local, ok := h.ports[port]
	if !ok {
		return "", 0, false
	}
	if !flag && h.isLocalName(name) {
		name = "127.0.0.1"
	}
	return name, local, true
}

func (h *composeHost) isLocalName(name string) bool {
	for _, n := range h.services {
		if n == name {
			return true
		}
	}
	return name == "0.0.0.0"
}

// localMounts gives each of a service's mounts a local path: named
// volumes a directory of the work dir (shared by the services that mount
// the volume, as in compose), secrets and configs their files, copied
// with mode 0600 as the tablets' secret files require.
func (h *composeHost) localMounts(svc types.ServiceConfig) map[string]string {
	t := h.t
	t.Helper()
	out := map[string]string{}
	for target, src := range mountTargets(h.p, svc) {
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

// serviceImage is a service's image and the project's binaries it holds.
func (h *composeHost) serviceImage(svc types.ServiceConfig) (string, []string) {
	if svc.Build != nil {
		return svc.Build.Target, h.stages[svc.Build.Target].binaries
	}
	return svc.Image, thirdPartyImages[imageRepo(svc.Image)].binaries
}

// spec is a service's process on this host: its argv and environment
// rewritten, run with only the compose environment and a PATH that finds
// its image's binaries.
func (h *composeHost) spec(svc types.ServiceConfig, args []string) procSpec {
	t := h.t
	t.Helper()
	mounts := h.localMounts(svc)
	local := make([]string, len(args))
	for i, a := range args {
		local[i] = rewrite(a, h, mounts)
	}
	cwd := filepath.Join(h.work, "cwd", svc.Name)
	if err := os.MkdirAll(cwd, 0o750); err != nil {
		t.Fatal(err)
	}
	image, bins := h.serviceImage(svc)
	env := []string{"PATH=" + h.binDir(image, bins) + ":" + imagePath, "HOME=" + cwd, "TMPDIR=" + os.TempDir()}
	for k, v := range svc.Environment {
		if v != nil {
			env = append(env, k+"="+rewrite(*v, h, mounts))
		}
	}
	grace := 10 * time.Second // compose's default
	if svc.StopGracePeriod != nil {
		grace = time.Duration(*svc.StopGracePeriod)
	}
	return procSpec{name: svc.Name, args: local, env: env, dir: cwd, grace: grace}
}

// healthy runs a service's health check once, as the container would.
// etcd's image runs etcdctl, which this host lacks: its check is the
// HTTP request etcdctl's endpoint health makes (GET /health).
func (h *composeHost) healthy(ctx context.Context, svc types.ServiceConfig) error {
	t := h.t
	test := []string(svc.HealthCheck.Test)
	if len(test) == 0 || test[0] != "CMD" {
		t.Fatalf("service %s: health check %q: want the exec form [\"CMD\", ...]", svc.Name, test)
	}
	args := test[1:]
	if args[0] == "etcdctl" {
		var endpoint string
		for _, a := range args {
			if v, ok := strings.CutPrefix(a, "--endpoints="); ok {
				endpoint = rewrite(v, h, nil)
			}
		}
		return httpGetOK(endpoint+"/health", 3*time.Second)
	}
	spec := h.spec(svc, args)
	spec.name += "-health"
	out, err := h.output(ctx, spec)
	if err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}

func TestComposeClusterServes(t *testing.T) {
	r := newRunner(t, "compose")
	began := time.Now()
	h := &composeHost{runner: r, p: loadCompose(t), stages: parseDockerfile(t), ports: map[int]int{}}
	p := h.p

	// Every port the file names gets a free local port.
	all := p.AllServices()
	argvs := map[string][]string{}
	for _, svc := range all {
		h.services = append(h.services, svc.Name)
		argvs[svc.Name] = argv(t, svc, h.stages)
		texts := append([]string{}, argvs[svc.Name]...)
		if svc.HealthCheck != nil {
			texts = append(texts, svc.HealthCheck.Test...)
		}
		for _, s := range texts {
			for _, m := range addrRe.FindAllStringSubmatch(s, -1) {
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
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	waitHealthy := func(name string) {
		svc := p.Services[name]
		waitUntil(t, ctx, procs[name], name+" becomes healthy", func() error { return h.healthy(ctx, svc) })
	}
	var startService func(name string)
	startService = func(name string) {
		if _, ok := procs[name]; ok {
			return
		}
		svc := p.Services[name]
		for dep, d := range svc.DependsOn {
			startService(dep)
			switch d.Condition {
			case types.ServiceConditionStarted:
			case types.ServiceConditionHealthy:
				waitHealthy(dep)
			case types.ServiceConditionCompletedSuccessfully:
				// A one-shot job has run to success when it was started.
				if p.Services[dep].Restart != types.RestartPolicyOnFailure {
					t.Fatalf("%s: depends on %s completing, which is no one-shot job (restart: on-failure)", name, dep)
				}
			default:
				t.Fatalf("%s: depends_on %s with condition %q", name, dep, d.Condition)
			}
		}
		order = append(order, name)
		if svc.Restart != types.RestartPolicyOnFailure {
			procs[name] = h.start(h.spec(svc, argvs[name]))
			return
		}
		// A one-shot job with restart: on-failure runs again, as compose
		// restarts it (the cluster's other services may still be starting).
		h.runJob(ctx, name, 10, func() *proc {
			procs[name] = h.start(h.spec(svc, argvs[name]))
			return procs[name]
		})
	}
	for _, name := range h.services {
		// `docker compose up` starts the services of no profile.
		if svc, enabled := p.Services[name]; enabled && len(svc.Profiles) == 0 {
			startService(name)
		}
	}
	// Everything with a health check becomes healthy.
	for _, name := range order {
		if p.Services[name].HealthCheck != nil && p.Services[name].Restart != types.RestartPolicyOnFailure {
			waitHealthy(name)
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
	checkCustomers(t, ctx, db)
	// The app user of the users file reaches commerce too.
	app, err := sql.Open("mysql", fmt.Sprintf("app:app-demo@tcp(127.0.0.1:%d)/commerce?timeout=5s", gatePort))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	var n int
	if err := app.QueryRowContext(ctx, "select count(*) from customer where customer_id = 7").Scan(&n); err != nil || n != 1 {
		t.Errorf("app user reads: %d, %v", n, err)
	}

	// The admin UI answers on its published port.
	if err := httpGetOK(fmt.Sprintf("http://127.0.0.1:%d/", h.ports[15000]), 5*time.Second); err != nil {
		t.Errorf("admin UI: %v", err)
	}

	// A backup to the S3 store, as `docker compose run --rm shardctl
	// backup create commerce` runs it (the tools profile's service).
	tool, ok := p.DisabledServices["shardctl"]
	if !ok {
		tool = p.Services["shardctl"]
	}
	noCommand := tool
	noCommand.Command = types.ShellCommand{}
	toolArgs := argv(t, noCommand, h.stages)
	run := func(args ...string) string {
		spec := h.spec(tool, append(append([]string{}, toolArgs...), args...))
		out, err := h.output(ctx, spec)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return string(out)
	}
	run("backup", "create", "commerce")
	if out := run("backup", "list", "commerce/80-"); !strings.Contains(out, "zone1-200") {
		t.Fatalf("backup list commerce/80-:\n%s\nwant a backup by zone1-200", out)
	} else {
		t.Logf("backup list commerce/80-:\n%s", out)
	}
	// The objects are in the store's volume, in the bucket the init job made.
	var objects int
	_ = filepath.WalkDir(filepath.Join(h.work, "volumes", "s3-data", "backups"), func(_ string, d os.DirEntry, err error) error {
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
		if p.Services[order[i]].Restart == types.RestartPolicyOnFailure {
			continue // a one-shot job, done
		}
		h.terminate(procs[order[i]], time.Now())
	}
	h.checkServersStopped()
	t.Logf("whole run: %v", time.Since(began).Round(time.Millisecond))
}
