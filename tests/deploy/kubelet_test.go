package deploy

// What a Kubernetes cluster does for TestKubernetesClusterServes, which
// runs the built overlay's pods as this host's processes, short of
// containers: every container's command and environment as Kubernetes
// would give them, on this host's loopback. What a cluster would provide,
// and how the test stands in for it:
//
//   - Pods: each replica of each StatefulSet and Deployment, and a pod
//     for each Job run, named as their controllers name them (etcd-0,
//     gate-<hash>-<suffix>, init-topology-<suffix>) and labeled as they
//     label them (apps.kubernetes.io/pod-index, pod-template-hash,
//     job-name), so that the downward API gives what it would.
//   - Network: every pod has its own network namespace in Kubernetes, so
//     two pods may serve one port (every tablet serves 16100). Here each
//     pod's ports are free local ports of its own; a name the cluster's DNS
//     answers (a Service, svc.ns, svc.ns.svc.cluster.local, a StatefulSet
//     pod's pod.svc) is 127.0.0.1 with the port of the pod it reaches
//     (a ClusterIP Service's port through its targetPort).
//   - Volumes: claims, emptyDirs, Secrets and ConfigMaps are directories,
//     laid out and owned as the kubelet lays them out (a Secret's files
//     are symlinks through ..data, with defaultMode and the pod's
//     fsGroup); container paths on a mount are rewritten to them.
//   - Users: when the test runs as root, each container runs as the user
//     and groups its securityContext (or its image's USER) names, with
//     fsGroup as a supplementary group, so that a file mode a pod cannot
//     read fails here too. Not as root, everything runs as the test's
//     user, and the test says so.
//   - Images: a container's PATH holds only its image's binaries (the
//     Dockerfile's COPY --from=build, etcd for etcd's image) before the
//     host's, and its entrypoint is the image's (tini left out: it only
//     forwards signals and reaps).
//
// Not emulated, because nothing here uses them and a manifest that starts
// to fails loudly (t.Fatalf names it) rather than being skipped: envFrom,
// subPath mounts, probes other than httpGet, exec and tcpSocket, and Jobs
// of more than one container. Not emulated because they cannot change
// what a process does: resource requests and limits, affinity, the PDB
// and HPA (the run uses the Deployment's replicas, which the HPA's
// minimum equals), probe periods (the test polls faster), and the
// service-link variables the kubelet adds for ClusterIP Services
// (GATE_SERVICE_HOST, ADMIN_PORT, ..., KUBERNETES_SERVICE_HOST): no
// process here reads variables of those names (the binaries read
// SHARDGATE_*, SHARDTABLET_* and the cloud SDKs' own; etcd reads ETCD_*,
// and its Service is headless, which gets none).

import (
	"context"
	"fmt"
	"hash/fnv"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// kubePod is one pod of the overlay as this host runs it.
type kubePod struct {
	name      string
	owner     string // its workload, as "StatefulSet etcd"
	subdomain string // a StatefulSet pod's headless Service
	ordered   bool   // a StatefulSet pod that starts once the one before it is ready
	labels    map[string]string
	spec      corev1.PodSpec
	claims    map[string]string // volume name -> the PVC of a StatefulSet's claim template
	grace     time.Duration
	dir       string
	ports     map[int]int       // a port of the pod's network namespace -> a free local one
	volumes   map[string]string // volume name -> its local directory
	procs     map[string]*proc  // container name -> its process
}

// kubeCluster is the built overlay laid out on this host.
type kubeCluster struct {
	*runner
	o        objects
	ns       string
	stages   map[string]dockerStage
	pods     []*kubePod // the long-running pods, in start order
	dns      map[string]dnsTarget
	external map[string]int // host:port outside the cluster -> its local port
	asUsers  bool           // processes run as their pods' users
}

// dnsTarget is what a name of the cluster's DNS answers with.
type dnsTarget struct {
	pod *kubePod
	svc *corev1.Service
}

func newKubeCluster(t *testing.T, r *runner, o objects) *kubeCluster {
	t.Helper()
	c := &kubeCluster{runner: r, o: o, ns: onlyNamespace(t, o), stages: parseDockerfile(t), dns: map[string]dnsTarget{}, external: map[string]int{},
		asUsers: os.Geteuid() == 0}
	if !c.asUsers {
		t.Logf("not root: every container runs as uid %d, not as its securityContext's user", os.Geteuid())
	}
	for _, name := range sortedKeys(o.statefulSets) {
		c.statefulSetPods(name)
	}
	for _, name := range sortedKeys(o.deployments) {
		c.deploymentPods(name)
	}
	c.buildDNS()
	return c
}

// kubeName is a name's random-looking part as Kubernetes makes one (its
// alphabet has no vowels), derived from seed so that runs are alike.
func kubeName(seed string, n int) string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	h := fnv.New64a()
	h.Write([]byte(seed))
	v := h.Sum64()
	out := make([]byte, n)
	for i := range out {
		out[i] = alphabet[v%uint64(len(alphabet))]
		v /= uint64(len(alphabet))
	}
	return string(out)
}

func (c *kubeCluster) newPod(name, owner string, tmpl corev1.PodTemplateSpec, extra map[string]string) *kubePod {
	p := &kubePod{name: name, owner: owner, labels: map[string]string{}, spec: tmpl.Spec, claims: map[string]string{},
		grace: 30 * time.Second, dir: filepath.Join(c.work, "pods", name), ports: map[int]int{}, procs: map[string]*proc{}}
	for k, v := range tmpl.Labels {
		p.labels[k] = v
	}
	for k, v := range extra {
		p.labels[k] = v
	}
	if s := tmpl.Spec.TerminationGracePeriodSeconds; s != nil {
		p.grace = time.Duration(*s) * time.Second
	}
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		c.t.Fatal(err)
	}
	return p
}

func replicas(n *int32) int {
	if n == nil {
		return 1
	}
	return int(*n)
}

// statefulSetPods are a StatefulSet's pods: NAME-i, with the labels its
// controller adds (apps.kubernetes.io/pod-index is what a pod's index
// reaches the downward API by) and a claim per volumeClaimTemplate.
func (c *kubeCluster) statefulSetPods(name string) {
	sts := c.o.statefulSets[name]
	for i := range replicas(sts.Spec.Replicas) {
		podName := fmt.Sprintf("%s-%d", name, i)
		p := c.newPod(podName, "StatefulSet "+name, sts.Spec.Template, map[string]string{
			"statefulset.kubernetes.io/pod-name": podName,
			"apps.kubernetes.io/pod-index":       strconv.Itoa(i),
			"controller-revision-hash":           name + "-" + kubeName(name, 10),
		})
		p.subdomain = sts.Spec.ServiceName
		p.ordered = sts.Spec.PodManagementPolicy != appsv1.ParallelPodManagement
		for _, claim := range sts.Spec.VolumeClaimTemplates {
			p.claims[claim.Name] = claim.Name + "-" + podName
		}
		c.pods = append(c.pods, p)
	}
}

// deploymentPods are a Deployment's pods: NAME-HASH-SUFFIX, labeled with
// the pod-template-hash its ReplicaSet adds.
func (c *kubeCluster) deploymentPods(name string) {
	d := c.o.deployments[name]
	hash := kubeName(name, 10)
	for i := range replicas(d.Spec.Replicas) {
		podName := fmt.Sprintf("%s-%s-%s", name, hash, kubeName(name+strconv.Itoa(i), 5))
		c.pods = append(c.pods, c.newPod(podName, "Deployment "+name, d.Spec.Template, map[string]string{"pod-template-hash": hash}))
	}
}

func (c *kubeCluster) podsOf(owner string) []*kubePod {
	var out []*kubePod
	for _, p := range c.pods {
		if p.owner == owner {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		c.t.Fatalf("%s has no pods", owner)
	}
	return out
}

// workloads are the names, as "KIND NAME", of the kind's workloads that
// keep.
func (c *kubeCluster) workloads(kind string, keep func(string) bool) []string {
	var names []string
	switch kind {
	case "StatefulSet":
		names = sortedKeys(c.o.statefulSets)
	case "Deployment":
		names = sortedKeys(c.o.deployments)
	}
	var out []string
	for _, n := range names {
		if keep(n) {
			out = append(out, kind+" "+n)
		}
	}
	return out
}

// buildDNS lists every name the cluster's DNS answers in the namespace: a
// Service's, and a StatefulSet pod's under its headless Service.
func (c *kubeCluster) buildDNS() {
	forms := func(base string) []string {
		return []string{base, base + "." + c.ns, base + "." + c.ns + ".svc", base + "." + c.ns + ".svc.cluster.local"}
	}
	for _, svc := range c.o.services {
		for _, n := range forms(svc.Name) {
			c.dns[n] = dnsTarget{svc: svc}
		}
	}
	for _, p := range c.pods {
		svc := c.o.services[p.subdomain]
		if svc == nil || svc.Spec.ClusterIP != corev1.ClusterIPNone || !selects(svc, p) {
			continue
		}
		for _, n := range forms(p.name + "." + p.subdomain) {
			c.dns[n] = dnsTarget{pod: p}
		}
	}
}

func selects(svc *corev1.Service, p *kubePod) bool {
	return len(svc.Spec.Selector) > 0 && labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(p.labels))
}

// lookup is what name means inside pod from: the pod itself (loopback,
// the wildcard address, its own hostname, as its /etc/hosts has it), or a
// name of the cluster's DNS.
func (c *kubeCluster) lookup(from *kubePod, name string) (dnsTarget, bool) {
	switch name {
	case "", "localhost", "127.0.0.1", "0.0.0.0", from.name:
		return dnsTarget{pod: from}, true
	}
	target, ok := c.dns[name]
	return target, ok
}

// podPort is the local port that stands for port in p's network namespace.
func (c *kubeCluster) podPort(p *kubePod, port int) int {
	if _, ok := p.ports[port]; !ok {
		p.ports[port] = freePort(c.t)
	}
	return p.ports[port]
}

// localPort is where a connection to target's port lands: a pod's own
// port; for a headless Service one of its pods' (its DNS name answers
// with their addresses); for a ClusterIP Service the port its targetPort
// names on one of its pods, as kube-proxy forwards it.
func (c *kubeCluster) localPort(target dnsTarget, port int) (int, error) {
	if target.pod != nil {
		return c.podPort(target.pod, port), nil
	}
	svc := target.svc
	var pods []*kubePod
	for _, p := range c.pods {
		if selects(svc, p) {
			pods = append(pods, p)
		}
	}
	if len(pods) == 0 {
		return 0, fmt.Errorf("Service %s selects no pod", svc.Name)
	}
	p := pods[0]
	if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		return c.podPort(p, port), nil
	}
	for _, sp := range svc.Spec.Ports {
		if int(sp.Port) != port {
			continue
		}
		cp, err := containerPort(p, sp.TargetPort, port)
		if err != nil {
			return 0, fmt.Errorf("Service %s port %d: %w", svc.Name, port, err)
		}
		return c.podPort(p, cp), nil
	}
	return 0, fmt.Errorf("Service %s has no port %d", svc.Name, port)
}

// containerPort resolves a Service's targetPort (a number, a container
// port's name, or unset: the Service's port) on pod p.
func containerPort(p *kubePod, target intstr.IntOrString, port int) (int, error) {
	switch {
	case target.Type == intstr.String:
		for _, ctr := range p.spec.Containers {
			for _, cp := range ctr.Ports {
				if cp.Name == target.StrVal {
					return int(cp.ContainerPort), nil
				}
			}
		}
		return 0, fmt.Errorf("pod %s has no port named %s", p.name, target.StrVal)
	case target.IntVal != 0:
		return int(target.IntVal), nil
	}
	return port, nil
}

// serviceAddr is where a client outside the pods reaches a Service's port
// (kubectl port-forward svc/NAME PORT).
func (c *kubeCluster) serviceAddr(name string, port int) string {
	svc := c.o.services[name]
	if svc == nil {
		c.t.Fatalf("no Service %s", name)
	}
	local, err := c.localPort(dnsTarget{svc: svc}, port)
	if err != nil {
		c.t.Fatal(err)
	}
	return "127.0.0.1:" + strconv.Itoa(local)
}

// podView maps the addresses of one pod's commands.
type podView struct {
	c *kubeCluster
	p *kubePod
}

func (v podView) mapAddr(name string, port int, flag bool) (string, int, bool) {
	if flag {
		return name, v.c.podPort(v.p, port), true
	}
	if local, ok := v.c.external[name+":"+strconv.Itoa(port)]; ok {
		return "127.0.0.1", local, true
	}
	target, ok := v.c.lookup(v.p, name)
	if !ok {
		if net.ParseIP(name) == nil {
			v.c.t.Errorf("%s: %s:%d names no Service or pod of the cluster", v.p.name, name, port)
		}
		return "", 0, false
	}
	local, err := v.c.localPort(target, port)
	if err != nil {
		v.c.t.Errorf("%s: %s:%d: %v", v.p.name, name, port, err)
		return "", 0, false
	}
	return "127.0.0.1", local, true
}

func (v podView) isLocalName(name string) bool {
	_, ok := v.c.lookup(v.p, name)
	return ok
}

// prepareVolumes makes each of p's volumes a directory, as the kubelet
// makes it before the pod's containers start.
func (c *kubeCluster) prepareVolumes(p *kubePod) {
	t := c.t
	t.Helper()
	p.volumes = map[string]string{}
	var fsGroup *int64
	if sc := p.spec.SecurityContext; sc != nil {
		fsGroup = sc.FSGroup
	}
	for name, claim := range p.claims {
		// A claim outlives its pod: one directory per PVC.
		p.volumes[name] = c.writableVolume(filepath.Join(c.work, "pvc", claim), 0o755, fsGroup)
	}
	for _, v := range p.spec.Volumes {
		dir := filepath.Join(p.dir, "volumes", v.Name)
		switch {
		case v.EmptyDir != nil:
			p.volumes[v.Name] = c.writableVolume(dir, 0o777, fsGroup)
		case v.Secret != nil, v.ConfigMap != nil:
			files, items, mode := c.volumeSource(p, v)
			c.projectFiles(dir, projection(t, files, items, mode), fsGroup)
			p.volumes[v.Name] = dir
		default:
			t.Fatalf("%s: volume %s: this kind of volume is not emulated; add it to prepareVolumes", p.name, v.Name)
		}
	}
}

// volumeSource is a Secret or ConfigMap volume's keys, items and
// defaultMode. A missing one keeps the pod from starting.
func (c *kubeCluster) volumeSource(p *kubePod, v corev1.Volume) (map[string][]byte, []corev1.KeyToPath, *int32) {
	files := map[string][]byte{}
	if s := v.Secret; s != nil {
		sec := c.o.secrets[s.SecretName]
		if sec == nil {
			c.t.Fatalf("%s: volume %s: no Secret %s (the pod would not start)", p.name, v.Name, s.SecretName)
		}
		for k, d := range sec.Data {
			files[k] = d
		}
		for k, str := range sec.StringData {
			files[k] = []byte(str)
		}
		return files, s.Items, s.DefaultMode
	}
	cmv := v.ConfigMap
	cm := c.o.configMaps[cmv.Name]
	if cm == nil {
		c.t.Fatalf("%s: volume %s: no ConfigMap %s (the pod would not start)", p.name, v.Name, cmv.Name)
	}
	for k, str := range cm.Data {
		files[k] = []byte(str)
	}
	for k, d := range cm.BinaryData {
		files[k] = d
	}
	return files, cmv.Items, cmv.DefaultMode
}

// writableVolume makes a claim's or emptyDir's directory. With an fsGroup
// the kubelet gives it to the group, group-writable and setgid, so that
// the pod's user may write it.
func (c *kubeCluster) writableVolume(dir string, mode os.FileMode, fsGroup *int64) string {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		c.t.Fatal(err)
	}
	if fsGroup != nil && c.asUsers {
		mode |= os.ModeSetgid | 0o070
		if err := os.Chown(dir, 0, int(*fsGroup)); err != nil {
			c.t.Fatal(err)
		}
	}
	if err := os.Chmod(dir, mode); err != nil {
		c.t.Fatal(err)
	}
	return dir
}

// projectedFile is one file of a Secret or ConfigMap volume.
type projectedFile struct {
	data []byte
	mode os.FileMode
}

// projection is what a Secret or ConfigMap volume holds, by path: every
// key, or only the items (each at its path); each with the item's mode or
// defaultMode, 0644 unless given.
func projection(t *testing.T, files map[string][]byte, items []corev1.KeyToPath, defaultMode *int32) map[string]projectedFile {
	t.Helper()
	mode := os.FileMode(0o644)
	if defaultMode != nil {
		mode = os.FileMode(*defaultMode)
	}
	out := map[string]projectedFile{}
	if len(items) == 0 {
		for k, d := range files {
			out[k] = projectedFile{d, mode}
		}
	}
	for _, it := range items {
		d, ok := files[it.Key]
		if !ok {
			t.Fatalf("volume item %s: no such key", it.Key)
		}
		m := mode
		if it.Mode != nil {
			m = os.FileMode(*it.Mode)
		}
		out[it.Path] = projectedFile{d, m}
	}
	return out
}

// projectFiles lays a projection out as the kubelet's atomic writer does:
// the files in a timestamped directory, ..data a symlink to it, and each
// top-level path a symlink through ..data. With an fsGroup the files
// belong to that group and are at least group-readable (the kubelet's
// SetVolumeOwnership for a read-only volume).
func (c *kubeCluster) projectFiles(dir string, files map[string]projectedFile, fsGroup *int64) {
	t := c.t
	t.Helper()
	const stamp = "..2025_01_01_00_00_00.000000001"
	for rel, f := range files {
		path := filepath.Join(dir, stamp, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, f.data, 0o600); err != nil {
			t.Fatal(err)
		}
		mode := f.mode
		if fsGroup != nil && c.asUsers {
			mode |= 0o440
			if err := os.Chown(path, 0, int(*fsGroup)); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		top, _, _ := strings.Cut(rel, "/")
		if _, err := os.Lstat(filepath.Join(dir, top)); os.IsNotExist(err) {
			if err := os.Symlink(filepath.Join("..data", top), filepath.Join(dir, top)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, stamp), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(stamp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
}

// mounts are a container's mount paths and their local directories.
func (c *kubeCluster) mounts(p *kubePod, ctr corev1.Container) map[string]string {
	out := map[string]string{}
	for _, m := range ctr.VolumeMounts {
		if m.SubPath != "" || m.SubPathExpr != "" {
			c.t.Fatalf("%s/%s: mount %s: subPath is not emulated", p.name, ctr.Name, m.MountPath)
		}
		dir, ok := p.volumes[m.Name]
		if !ok {
			c.t.Fatalf("%s/%s: mount %s: no volume %s", p.name, ctr.Name, m.MountPath, m.Name)
		}
		out[m.MountPath] = dir
	}
	return out
}

// image is what the test knows of a container's image: one of the
// Dockerfile's targets (shardgate/gate, shardgate/tablet under any
// registry and tag, as the overlay's images: renames them) or a
// third-party image.
func (c *kubeCluster) image(ref string) dockerStage {
	repo := imageRepo(ref)
	for target, st := range c.stages {
		if repo == "shardgate/"+target || strings.HasSuffix(repo, "/shardgate/"+target) {
			return st
		}
	}
	if img, ok := thirdPartyImages[repo]; ok {
		return dockerStage{entrypoint: img.entrypoint, binaries: img.binaries, user: img.user}
	}
	c.t.Fatalf("image %s: the test does not know it", ref)
	return dockerStage{}
}

// envVar is one variable of a container's environment.
type envVar struct{ name, value string }

// env is a container's own environment as Kubernetes gives it, in
// order: valueFrom resolved, $(VAR) references to earlier variables
// expanded. (The runtime adds HOSTNAME, which $(VAR) does not see.)
func (c *kubeCluster) env(p *kubePod, ctr corev1.Container) []envVar {
	if len(ctr.EnvFrom) > 0 {
		c.t.Fatalf("%s/%s: envFrom is not emulated", p.name, ctr.Name)
	}
	var out []envVar
	defined := map[string]string{}
	for _, e := range ctr.Env {
		v := expandK8s(e.Value, defined)
		if e.ValueFrom != nil {
			v = c.valueFrom(p, ctr, e)
		}
		defined[e.Name] = v
		out = append(out, envVar{e.Name, v})
	}
	return out
}

// valueFrom is a variable's value from the downward API, a ConfigMap or
// a Secret. A missing key keeps the container from starting.
func (c *kubeCluster) valueFrom(p *kubePod, ctr corev1.Container, e corev1.EnvVar) string {
	vf := e.ValueFrom
	switch {
	case vf.FieldRef != nil:
		return c.fieldRef(p, vf.FieldRef.FieldPath)
	case vf.ConfigMapKeyRef != nil:
		ref := vf.ConfigMapKeyRef
		if cm := c.o.configMaps[ref.Name]; cm != nil {
			if v, ok := cm.Data[ref.Key]; ok {
				return v
			}
		}
		c.t.Fatalf("%s/%s: env %s: ConfigMap %s has no key %s", p.name, ctr.Name, e.Name, ref.Name, ref.Key)
	case vf.SecretKeyRef != nil:
		ref := vf.SecretKeyRef
		if sec := c.o.secrets[ref.Name]; sec != nil {
			if v, ok := sec.Data[ref.Key]; ok {
				return string(v)
			}
		}
		c.t.Fatalf("%s/%s: env %s: Secret %s has no key %s", p.name, ctr.Name, e.Name, ref.Name, ref.Key)
	default:
		c.t.Fatalf("%s/%s: env %s: this valueFrom is not emulated", p.name, ctr.Name, e.Name)
	}
	return ""
}

var labelFieldRe = regexp.MustCompile(`^metadata\.(labels|annotations)\['([^']+)'\]$`)

// fieldRef is what the downward API gives a pod for a field path.
func (c *kubeCluster) fieldRef(p *kubePod, path string) string {
	switch path {
	case "metadata.name":
		return p.name
	case "metadata.namespace":
		return c.ns
	case "metadata.uid":
		return kubeName(p.name, 8) + "-0000-4000-8000-" + kubeName(p.name+"uid", 12)
	case "spec.nodeName":
		return "localhost"
	case "spec.serviceAccountName":
		return "default"
	case "status.podIP", "status.podIPs", "status.hostIP", "status.hostIPs":
		return "127.0.0.1"
	}
	m := labelFieldRe.FindStringSubmatch(path)
	if m == nil {
		c.t.Fatalf("%s: fieldRef %s is not emulated", p.name, path)
	}
	if m[1] == "labels" {
		v, ok := p.labels[m[2]]
		if !ok {
			// The kubelet gives "" for a label the pod lacks: surely not
			// what the manifest means.
			c.t.Errorf("%s: fieldRef %s: the pod has no such label (labels %v)", p.name, path, p.labels)
		}
		return v
	}
	return ""
}

// expandK8s expands $(VAR) references as Kubernetes does in env values,
// commands and args: a defined VAR is replaced, an undefined reference
// stays as written, $$ is a literal $.
func expandK8s(s string, defined map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString("$(")
				i++
				continue
			}
			name := s[i+2 : i+2+end]
			if v, ok := defined[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString("$(" + name + ")")
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// argvOf is what a container runs: the manifest's command in place of the
// image's entrypoint (and then without the image's CMD), its args in
// place of the CMD, $(VAR) expanded in both.
func argvOf(ctr corev1.Container, img dockerStage, env map[string]string) []string {
	entry, cmd := img.entrypoint, img.cmd
	if len(ctr.Command) > 0 {
		entry, cmd = nil, nil
		for _, a := range ctr.Command {
			entry = append(entry, expandK8s(a, env))
		}
	}
	if len(ctr.Args) > 0 {
		cmd = nil
		for _, a := range ctr.Args {
			cmd = append(cmd, expandK8s(a, env))
		}
	}
	if len(entry) >= 2 && entry[0] == "/usr/bin/tini" && entry[1] == "--" {
		entry = entry[2:]
	}
	return append(append([]string{}, entry...), cmd...)
}

// credential is whom a container runs as: its securityContext's user
// and group, else its pod's, else its image's USER; with the pod's
// fsGroup and supplementalGroups as supplementary groups. nil: as the
// test's own user.
func (c *kubeCluster) credential(p *kubePod, ctr corev1.Container, img dockerStage) *syscall.Credential {
	t := c.t
	uidStr, gidStr, _ := strings.Cut(img.user, ":")
	uid, err1 := strconv.ParseInt(uidStr, 10, 64)
	gid, err2 := strconv.ParseInt(gidStr, 10, 64)
	if err1 != nil || (gidStr != "" && err2 != nil) {
		t.Fatalf("%s/%s: image user %q: want numeric uid:gid", p.name, ctr.Name, img.user)
	}
	var nonRoot *bool
	var groups []uint32
	if sc := p.spec.SecurityContext; sc != nil {
		uid, gid, nonRoot = orInt(sc.RunAsUser, uid), orInt(sc.RunAsGroup, gid), orBool(sc.RunAsNonRoot, nonRoot)
		if sc.FSGroup != nil {
			groups = append(groups, uint32(*sc.FSGroup))
		}
		for _, g := range sc.SupplementalGroups {
			groups = append(groups, uint32(g))
		}
	}
	if sc := ctr.SecurityContext; sc != nil {
		uid, gid, nonRoot = orInt(sc.RunAsUser, uid), orInt(sc.RunAsGroup, gid), orBool(sc.RunAsNonRoot, nonRoot)
	}
	if nonRoot != nil && *nonRoot && uid == 0 {
		t.Errorf("%s/%s: runAsNonRoot, but it would run as uid 0: the kubelet refuses to start it", p.name, ctr.Name)
	}
	if !c.asUsers || (uid == 0 && gid == 0 && len(groups) == 0) {
		return nil
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: groups}
}

func orInt(v *int64, d int64) int64 {
	if v != nil {
		return *v
	}
	return d
}

func orBool(v *bool, d *bool) *bool {
	if v != nil {
		return v
	}
	return d
}

// spec is a container's process on this host. args nil runs the
// container's own command; otherwise args (a kubectl exec, a hook) as
// given, without $(VAR) expansion, as Kubernetes runs them.
func (c *kubeCluster) spec(p *kubePod, ctr corev1.Container, name string, args []string) procSpec {
	t := c.t
	t.Helper()
	img := c.image(ctr.Image)
	mounts := c.mounts(p, ctr)
	env := c.env(p, ctr)
	defined := map[string]string{}
	for _, e := range env {
		defined[e.name] = e.value
	}
	if args == nil {
		args = argvOf(ctr, img, defined)
	}
	if len(args) == 0 {
		t.Fatalf("%s/%s runs nothing", p.name, ctr.Name)
	}
	cred := c.credential(p, ctr, img)
	home := c.home(p, ctr, cred)
	view := podView{c, p}
	local := []string{"PATH=" + c.binDir(imageRepo(ctr.Image), img.binaries) + ":" + imagePath, "HOME=" + home, "HOSTNAME=" + p.name}
	texts := append([]string{}, args...)
	for _, e := range env {
		local = append(local, e.name+"="+rewrite(e.value, view, mounts))
		texts = append(texts, e.value)
	}
	c.checkOnMounts(p, ctr, texts, mounts)
	localArgs := make([]string, len(args))
	for i, a := range args {
		localArgs[i] = rewrite(a, view, mounts)
	}
	return procSpec{name: name, args: localArgs, env: local, dir: home, cred: cred, grace: p.grace}
}

// home is a container's working directory and HOME: the image's WORKDIR
// and its user's home (/var/lib/shardgate for the project's images), a
// directory of the container's own here.
func (c *kubeCluster) home(p *kubePod, ctr corev1.Container, cred *syscall.Credential) string {
	home := filepath.Join(p.dir, "containers", ctr.Name)
	if err := os.MkdirAll(filepath.Dir(home), 0o755); err != nil {
		c.t.Fatal(err)
	}
	if err := os.Mkdir(home, 0o750); err != nil && !os.IsExist(err) {
		c.t.Fatal(err)
	}
	if cred != nil {
		if err := os.Chown(home, int(cred.Uid), int(cred.Gid)); err != nil {
			c.t.Fatal(err)
		}
	}
	return home
}

// hostStatePath finds absolute paths a container would have from its
// image (or from nothing) rather than from a mount.
var hostStatePath = regexp.MustCompile(`(?:^|[\s=,:'"])(/(?:etc|var|run|srv|opt|data|home|root)/[^\s&?,;'"]*)`)

// checkOnMounts refuses a command or environment that names such a path
// off every mount: here it would be this host's own directory, which a
// process run as root could write.
func (c *kubeCluster) checkOnMounts(p *kubePod, ctr corev1.Container, texts []string, mounts map[string]string) {
	for _, s := range texts {
		for _, m := range hostStatePath.FindAllStringSubmatch(s, -1) {
			if !underAny(m[1], mounts) {
				c.t.Fatalf("%s/%s: %s is on no volume: the container would have it from its image, the test only from this host", p.name, ctr.Name, m[1])
			}
		}
	}
}

func (c *kubeCluster) container(p *kubePod, name string) corev1.Container {
	for _, ctr := range p.spec.Containers {
		if ctr.Name == name {
			return ctr
		}
	}
	c.t.Fatalf("%s has no container %s", p.name, name)
	return corev1.Container{}
}

// exec runs args in a container of p, as kubectl exec (-i with stdin)
// does: the container's environment, mounts and user.
func (c *kubeCluster) exec(ctx context.Context, p *kubePod, container string, args []string, stdin []byte) ([]byte, error) {
	spec := c.spec(p, c.container(p, container), p.name+"-"+container+"-exec", args)
	spec.stdin = stdin
	return c.output(ctx, spec)
}

// runInitContainers runs a pod's init containers in order, each to
// success (the kubelet runs a failed one again).
func (c *kubeCluster) runInitContainers(ctx context.Context, p *kubePod) {
	for _, ctr := range p.spec.InitContainers {
		name := p.name + "-" + ctr.Name
		c.runJob(ctx, name, 5, func() *proc { return c.start(c.spec(p, ctr, name, nil)) })
	}
}

// bringUp starts the workloads' pods and waits until each is ready: an
// ordered StatefulSet's pod i once pod i-1 is ready (OrderedReady), all
// others at once.
func (c *kubeCluster) bringUp(ctx context.Context, workloads []string) {
	var waves [][]*kubePod
	for _, w := range workloads {
		for i, p := range c.podsOf(w) {
			k := 0
			if p.ordered {
				k = i
			}
			for len(waves) <= k {
				waves = append(waves, nil)
			}
			waves[k] = append(waves[k], p)
		}
	}
	for _, wave := range waves {
		for _, p := range wave {
			c.prepareVolumes(p)
			c.runInitContainers(ctx, p)
			for _, ctr := range p.spec.Containers {
				p.procs[ctr.Name] = c.start(c.spec(p, ctr, p.name+"-"+ctr.Name, nil))
			}
		}
		for _, p := range wave {
			c.waitReady(ctx, p)
		}
	}
}

// readyWithin bounds the wait for a pod to be ready: the whole cluster is
// ready in seconds here, and a probe that never passes (a wrong path or
// port) should fail the test in minutes, not at its deadline.
const readyWithin = 90 * time.Second

// waitReady waits for each container's startup probe, then its readiness
// probe, and checks that its liveness probe passes once it is ready.
func (c *kubeCluster) waitReady(ctx context.Context, p *kubePod) {
	ctx, cancel := context.WithTimeout(ctx, readyWithin)
	defer cancel()
	for _, ctr := range p.spec.Containers {
		pr := p.procs[ctr.Name]
		for _, probe := range []struct {
			kind string
			p    *corev1.Probe
		}{{"startup", ctr.StartupProbe}, {"readiness", ctr.ReadinessProbe}} {
			if probe.p != nil {
				waitUntil(c.t, ctx, pr, fmt.Sprintf("%s/%s %s probe", p.name, ctr.Name, probe.kind), func() error { return c.probe(ctx, p, ctr, probe.p) })
			}
		}
		if ctr.LivenessProbe != nil {
			if err := c.probe(ctx, p, ctr, ctr.LivenessProbe); err != nil {
				c.t.Errorf("%s/%s: ready, but its liveness probe fails: %v", p.name, ctr.Name, err)
			}
		}
	}
	c.t.Logf("%s is ready", p.name)
}

// probe runs a probe once, as the kubelet would: an HTTP GET of the
// manifest's path on the pod's port (2xx and 3xx pass), a command in the
// container, or a TCP connection.
func (c *kubeCluster) probe(ctx context.Context, p *kubePod, ctr corev1.Container, pr *corev1.Probe) error {
	timeout := time.Second
	if pr.TimeoutSeconds > 0 {
		timeout = time.Duration(pr.TimeoutSeconds) * time.Second
	}
	port := func(ip intstr.IntOrString) int {
		if ip.Type == intstr.String {
			for _, cp := range ctr.Ports {
				if cp.Name == ip.StrVal {
					return c.podPort(p, int(cp.ContainerPort))
				}
			}
			c.t.Fatalf("%s/%s: probe port %s is no port of the container", p.name, ctr.Name, ip.StrVal)
		}
		return c.podPort(p, ip.IntValue())
	}
	switch {
	case pr.HTTPGet != nil:
		g := pr.HTTPGet
		if (g.Scheme != "" && g.Scheme != corev1.URISchemeHTTP) || g.Host != "" || len(g.HTTPHeaders) > 0 {
			c.t.Fatalf("%s/%s: an httpGet probe with a scheme, host or headers is not emulated", p.name, ctr.Name)
		}
		path := g.Path
		if path == "" {
			path = "/"
		}
		return httpGetOK(fmt.Sprintf("http://127.0.0.1:%d%s", port(g.Port), path), timeout)
	case pr.Exec != nil:
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		out, err := c.exec(ctx, p, ctr.Name, pr.Exec.Command, nil)
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	case pr.TCPSocket != nil:
		conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port(pr.TCPSocket.Port)), timeout)
		if err == nil {
			conn.Close()
		}
		return err
	}
	c.t.Fatalf("%s/%s: a probe of this kind is not emulated", p.name, ctr.Name)
	return nil
}

// runJobPod runs one run of a Job: a pod named after the job, labeled as
// the Job controller labels it, its container run to success. A failed
// run is run again up to backoffLimit times (at most 5 runs here, to
// keep the test short), in the same pod as restartPolicy OnFailure does;
// with restartPolicy Never the controller would make a new pod, the same
// to a job whose only volumes are Secrets and ConfigMaps.
func (c *kubeCluster) runJobPod(ctx context.Context, owner, job string, spec batchv1.JobSpec) {
	t := c.t
	t.Helper()
	uid := kubeName(job+"uid", 8)
	p := c.newPod(job+"-"+kubeName(job, 5), owner, spec.Template, map[string]string{
		"batch.kubernetes.io/job-name": job, "job-name": job,
		"batch.kubernetes.io/controller-uid": uid, "controller-uid": uid,
	})
	if len(p.spec.Containers) != 1 {
		t.Fatalf("%s: a job pod of %d containers is not emulated", owner, len(p.spec.Containers))
	}
	for _, v := range p.spec.Volumes {
		if v.EmptyDir != nil && p.spec.RestartPolicy == corev1.RestartPolicyNever {
			t.Fatalf("%s: an emptyDir in a Never-restarting job's pod is not emulated (a retry gets a new pod)", owner)
		}
	}
	c.prepareVolumes(p)
	c.runInitContainers(ctx, p)
	attempts := 7 // backoffLimit's default, 6, plus the first run
	if spec.BackoffLimit != nil {
		attempts = int(*spec.BackoffLimit) + 1
	}
	ctr := p.spec.Containers[0]
	name := p.name + "-" + ctr.Name
	c.runJob(ctx, name, min(attempts, 5), func() *proc { return c.start(c.spec(p, ctr, name, nil)) })
	t.Logf("%s: %s succeeded", owner, job)
}

// preStopHooks are the specs of a pod's containers' preStop exec hooks,
// made before its termination begins (their making may fail the test,
// which only the test's goroutine may do).
func (c *kubeCluster) preStopHooks(p *kubePod) map[string]procSpec {
	hooks := map[string]procSpec{}
	for _, ctr := range p.spec.Containers {
		lc := ctr.Lifecycle
		if lc == nil || lc.PreStop == nil {
			continue
		}
		switch {
		case lc.PreStop.Exec != nil:
			hooks[ctr.Name] = c.spec(p, ctr, p.name+"-"+ctr.Name+"-prestop", lc.PreStop.Exec.Command)
		case lc.PreStop.Sleep != nil:
			hooks[ctr.Name] = procSpec{name: "sleep", args: []string{"sleep", strconv.FormatInt(lc.PreStop.Sleep.Seconds, 10)}, env: []string{"PATH=" + imagePath}}
		default:
			c.t.Fatalf("%s/%s: a preStop hook of this kind is not emulated", p.name, ctr.Name)
		}
	}
	return hooks
}

// terminatePod does what the kubelet does when a pod is deleted: each
// container's preStop hook, then SIGTERM; all within the pod's grace
// period.
func (c *kubeCluster) terminatePod(p *kubePod, hooks map[string]procSpec) {
	began := time.Now()
	var wg sync.WaitGroup
	for name, pr := range p.procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if hook, ok := hooks[name]; ok {
				ctx, cancel := context.WithDeadline(context.Background(), began.Add(p.grace))
				out, err := c.output(ctx, hook)
				cancel()
				if err != nil {
					c.t.Errorf("%s/%s: preStop hook: %v\n%s", p.name, name, err, out)
				}
			}
			c.terminate(pr, began)
		}()
	}
	wg.Wait()
}
