package deploy

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

// repoRoot is the repository, two levels up from this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// loadCompose loads docker-compose.yml as `docker compose` does, with the
// specification's schema validation and consistency checks on, every
// profile included.
func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	root := repoRoot(t)
	details := types.ConfigDetails{
		WorkingDir:  root,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(root, "docker-compose.yml")}},
		Environment: types.Mapping{},
	}
	project, err := loader.LoadWithContext(context.Background(), details, func(o *loader.Options) {
		o.SetProjectName("shardgate", true)
		o.ResolvePaths = true
		o.Profiles = []string{"*"}
	})
	if err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return project
}

// dockerStage is what a Dockerfile stage leaves to its image.
type dockerStage struct {
	entrypoint, cmd, healthcheck []string
	user                         string
	binaries                     []string // the build's binaries it copies in
}

var fromRe = regexp.MustCompile(`(?i)^FROM\s+(\S+)(?:\s+AS\s+(\S+))?`)

// parseDockerfile reads the stages of deploy/docker/Dockerfile with what
// each inherits from the stage it is built FROM: enough to know each
// target's entrypoint, user and health check.
func parseDockerfile(t *testing.T) map[string]dockerStage {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot(t), "deploy/docker/Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stages := map[string]dockerStage{}
	var name string
	var cur dockerStage
	var logical string
	sc := bufio.NewScanner(f)
	jsonArgs := func(s string) []string {
		var out []string
		if err := json.Unmarshal([]byte(s), &out); err != nil {
			t.Fatalf("Dockerfile: %q is not an exec-form JSON array: %v", s, err)
		}
		return out
	}
	flush := func() {
		if name != "" {
			stages[name] = cur
		}
	}
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			logical += strings.TrimSuffix(line, "\\") + " "
			continue
		}
		line, logical = logical+line, ""
		if m := fromRe.FindStringSubmatch(line); m != nil {
			flush()
			cur = stages[m[1]] // a named stage's settings, or nothing for a base image
			name = m[2]
			continue
		}
		word, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(word) {
		case "ENTRYPOINT":
			cur.entrypoint = jsonArgs(rest)
		case "CMD":
			cur.cmd = jsonArgs(rest)
		case "USER":
			cur.user = rest
		case "COPY":
			if from, ok := strings.CutPrefix(rest, "--from=build "); ok {
				srcs := strings.Fields(from)
				bins := append([]string{}, cur.binaries...)
				for _, src := range srcs[:len(srcs)-1] {
					bins = append(bins, filepath.Base(src))
				}
				cur.binaries = bins
			}
		case "HEALTHCHECK":
			_, cmd, ok := strings.Cut(rest, "CMD ")
			if !ok {
				t.Fatalf("Dockerfile: HEALTHCHECK without CMD: %q", rest)
			}
			cur.healthcheck = jsonArgs(strings.TrimSpace(cmd))
		}
	}
	flush()
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return stages
}

// thirdPartyImage is what the test knows of an image the project does not
// build.
type thirdPartyImage struct {
	entrypoint []string
	binaries   []string // what of it the tests run, from the repository's bin/tools
	user       string   // uid:gid it runs as, where the tests need it
}

// thirdPartyImages: etcd's image has no entrypoint (its command names the
// binary) and runs as root (distroless static, no USER in etcd's
// Dockerfile); versitygw's runs versitygw with the command as its
// arguments.
var thirdPartyImages = map[string]thirdPartyImage{
	"quay.io/coreos/etcd":       {binaries: []string{"etcd"}, user: "0:0"},
	"ghcr.io/versity/versitygw": {entrypoint: []string{"versitygw"}, binaries: []string{"versitygw"}},
}

// imageRepo is an image reference without its tag or digest.
func imageRepo(image string) string {
	image, _, _ = strings.Cut(image, "@")
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		image = image[:i]
	}
	return image
}

// argv is the process a service's container runs: its entrypoint (the
// service's own, or its image's) followed by its command, with tini, the
// images' init, left out: it only forwards signals and reaps.
func argv(t *testing.T, svc types.ServiceConfig, stages map[string]dockerStage) []string {
	t.Helper()
	entry := []string(svc.Entrypoint)
	cmd := []string(svc.Command)
	if entry == nil {
		if svc.Build != nil {
			st, ok := stages[svc.Build.Target]
			if !ok {
				t.Fatalf("service %s: Dockerfile has no stage %q", svc.Name, svc.Build.Target)
			}
			entry = st.entrypoint
			if cmd == nil {
				cmd = st.cmd
			}
		} else {
			img, ok := thirdPartyImages[imageRepo(svc.Image)]
			if !ok {
				t.Fatalf("service %s: image %s: the test does not know its entrypoint", svc.Name, svc.Image)
			}
			entry = img.entrypoint
		}
	}
	if len(entry) >= 2 && entry[0] == "/usr/bin/tini" && entry[1] == "--" {
		entry = entry[2:]
	}
	out := append(append([]string{}, entry...), cmd...)
	if len(out) == 0 {
		t.Fatalf("service %s runs nothing", svc.Name)
	}
	return out
}

// portFlagRe finds the ports a command serves or names: --x-port=N,
// host:N and URLs. Compose commands write flags as --flag=value so that
// this sees each.
var portRe = regexp.MustCompile(`(?:-port=|:)(\d{2,5})\b`)

// servedPorts are the ports a service's process listens on, from its
// command's flags (each flag that sets a listening port, by process).
func servedPorts(args []string) map[int]string {
	ports := map[int]string{}
	listenFlags := map[string]bool{
		"--mysql-port": true, "--grpc-port": true, "--http-port": true, "--query-port": true, // gate, tablet
		"--addr": true, "--port": true, // shardctl serve, versitygw
		"--listen-client-urls": true, "--listen-peer-urls": true, // etcd
	}
	bin := filepath.Base(args[0])
	for _, a := range args[1:] {
		name, value, ok := strings.Cut(a, "=")
		if !ok || !listenFlags[name] {
			continue
		}
		if bin == "shardtablet" && name == "--mysql-port" {
			name = "--mysql-port (its mariadbd)"
		}
		for _, m := range portRe.FindAllStringSubmatch("="+value, -1) {
			n, _ := strconv.Atoi(m[1])
			ports[n] = name
		}
		if n, err := strconv.Atoi(value); err == nil {
			ports[n] = name
		}
	}
	return ports
}

func TestComposeFileIsValidAndConsistent(t *testing.T) {
	p := loadCompose(t)
	stages := parseDockerfile(t)
	root := repoRoot(t)

	for _, target := range []string{"gate", "tablet"} {
		st, ok := stages[target]
		if !ok {
			t.Fatalf("Dockerfile has no target %q", target)
		}
		if st.user == "" || strings.HasPrefix(st.user, "0") || strings.HasPrefix(st.user, "root") {
			t.Errorf("Dockerfile target %s runs as %q, want an unprivileged user", target, st.user)
		}
		if len(st.healthcheck) == 0 {
			t.Errorf("Dockerfile target %s has no HEALTHCHECK", target)
		}
		// The image's own health check probes the port its default
		// command serves (the process's defaults when the CMD sets none).
		defaults := map[string]int{"gate": 15001, "tablet": 15100}
		if hc := strings.Join(st.healthcheck, " "); !strings.Contains(hc, ":"+strconv.Itoa(defaults[target])+"/") {
			t.Errorf("Dockerfile target %s: HEALTHCHECK %q does not probe the default HTTP port %d", target, hc, defaults[target])
		}
	}

	names := map[string]bool{}
	for name := range p.Services {
		names[name] = true
	}
	for name := range p.DisabledServices {
		names[name] = true
	}
	want := []string{"etcd", "s3", "init-topology", "shard-a", "shard-b", "init-schema", "gate", "admin"}
	for _, w := range want {
		if _, ok := p.Services[w]; !ok {
			t.Errorf("docker-compose.yml: no service %s", w)
		}
	}

	for _, svc := range p.AllServices() {
		args := argv(t, svc, stages)
		served := servedPorts(args)
		for dep := range svc.DependsOn {
			if !names[dep] {
				t.Errorf("service %s depends on %s, which does not exist", svc.Name, dep)
			}
		}
		for _, s := range svc.Secrets {
			sec, ok := p.Secrets[s.Source]
			if !ok {
				t.Errorf("service %s: secret %s is not declared", svc.Name, s.Source)
				continue
			}
			if _, err := os.Stat(sec.File); err != nil {
				t.Errorf("service %s: secret %s: %v", svc.Name, s.Source, err)
			}
		}
		for _, c := range svc.Configs {
			cfg, ok := p.Configs[c.Source]
			if !ok {
				t.Errorf("service %s: config %s is not declared", svc.Name, c.Source)
				continue
			}
			if _, err := os.Stat(cfg.File); err != nil {
				t.Errorf("service %s: config %s: %v", svc.Name, c.Source, err)
			}
		}
		for _, v := range svc.Volumes {
			if v.Type != types.VolumeTypeVolume {
				t.Errorf("service %s: volume %s is a %s mount; the cluster keeps its state on named volumes", svc.Name, v.Target, v.Type)
			} else if _, ok := p.Volumes[v.Source]; !ok {
				t.Errorf("service %s: volume %s is not declared", svc.Name, v.Source)
			}
		}
		// Paths in the command that live on a mount must have one.
		mounts := mountTargets(p, svc)
		for _, a := range args {
			for _, m := range regexp.MustCompile(`/(?:run/secrets|etc/shardgate|var/lib/shardgate)/[^\s&?]*`).FindAllString(a, -1) {
				if !underAny(m, mounts) {
					t.Errorf("service %s: %s in its command is on no volume, secret or config", svc.Name, m)
				}
			}
		}
		for _, pc := range svc.Ports {
			if _, ok := served[int(pc.Target)]; !ok {
				t.Errorf("service %s publishes port %d, which its command does not serve (serves %v)", svc.Name, pc.Target, served)
			}
			if pc.HostIP != "127.0.0.1" {
				t.Errorf("service %s publishes port %d on %q, want the host's loopback (127.0.0.1)", svc.Name, pc.Target, pc.HostIP)
			}
		}
		for _, e := range svc.Expose {
			n, _ := strconv.Atoi(e)
			if _, ok := served[n]; !ok {
				t.Errorf("service %s exposes port %s, which its command does not serve (serves %v)", svc.Name, e, served)
			}
		}
		if svc.HealthCheck != nil && len(svc.HealthCheck.Test) > 0 {
			hc := strings.Join(svc.HealthCheck.Test, " ")
			for _, m := range portRe.FindAllStringSubmatch(hc, -1) {
				n, _ := strconv.Atoi(m[1])
				if _, ok := served[n]; !ok {
					t.Errorf("service %s: health check %q probes port %d, which its command does not serve (serves %v)", svc.Name, hc, n, served)
				}
			}
		}
		for k, v := range svc.Environment {
			if v == nil {
				continue
			}
			up := strings.ToUpper(k)
			if (strings.Contains(up, "PASSWORD") || strings.Contains(up, "TOKEN")) && !strings.HasSuffix(up, "_FILE") {
				t.Errorf("service %s: environment %s carries a secret; mount it as a file", svc.Name, k)
			}
		}
	}
	// Two services must not serve one port: tests/deploy runs them all on
	// one loopback (and it keeps the compose file readable).
	owner := map[int]string{}
	for _, svc := range p.AllServices() {
		for port := range servedPorts(argv(t, svc, stages)) {
			if o, ok := owner[port]; ok && o != svc.Name {
				t.Errorf("port %d is served by both %s and %s", port, o, svc.Name)
			}
			owner[port] = svc.Name
		}
	}
	if g, ok := p.Services["gate"]; ok {
		if served := servedPorts(argv(t, g, stages)); served[15306] == "" {
			t.Errorf("the gate does not serve MySQL on 15306 (serves %v)", served)
		}
	}
	_ = root
}

// mountTargets are the container paths a service has files at: volumes,
// secrets (/run/secrets/NAME unless given a target) and configs.
func mountTargets(p *types.Project, svc types.ServiceConfig) map[string]string {
	m := map[string]string{}
	for _, v := range svc.Volumes {
		m[v.Target] = "volume:" + v.Source
	}
	for _, s := range svc.Secrets {
		target := s.Target
		if target == "" {
			target = s.Source
		}
		if !strings.HasPrefix(target, "/") {
			target = "/run/secrets/" + target
		}
		m[target] = "file:" + p.Secrets[s.Source].File
	}
	for _, c := range svc.Configs {
		target := c.Target
		if target == "" {
			target = "/" + c.Source
		}
		m[target] = "file:" + p.Configs[c.Source].File
	}
	return m
}

func underAny(path string, mounts map[string]string) bool {
	for target := range mounts {
		if path == target || strings.HasPrefix(path, strings.TrimSuffix(target, "/")+"/") {
			return true
		}
	}
	return false
}

// sortedTargets lists mount targets longest first, so that the deepest
// mount wins when paths are mapped.
func sortedTargets(mounts map[string]string) []string {
	out := make([]string, 0, len(mounts))
	for k := range mounts {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}
