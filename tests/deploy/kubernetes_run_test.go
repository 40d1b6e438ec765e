package deploy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/go-sql-driver/mysql"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/shardgate/shardgate/internal/s3server"
)

// backupStoreHost is the S3 store's address in the test's overlay. The
// example overlay expects a store outside the cluster (AWS S3, by bucket
// and region); the test runs versitygw, as the compose test does, and
// names it by a host of the reserved .test domain, which maps to it.
const backupStoreHost = "s3.backups.test:9000"

// TestKubernetesClusterServes runs deploy/kubernetes/overlays/example with
// the secrets its make-secrets.sh makes, as kubelet_test.go describes:
// every container of every workload, in dependency order, each pod ready
// by its own probes; then queries through the gate Service, the tables
// applied and a backup listed as README.md's kubectl exec steps do, one
// run of the backup CronJob into the S3 store, and every pod terminated
// at once, each process exiting by itself within its pod's grace period.
func TestKubernetesClusterServes(t *testing.T) {
	r := newRunner(t, "kubernetes")
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	store, err := s3server.Start(ctx, r.bins["versitygw"], filepath.Join(r.work, "s3"))
	if err != nil {
		t.Fatalf("the backup store: %v", err)
	}
	t.Cleanup(store.Stop)
	secrets := makeSecrets(t, r.work)
	o, bucket, prefix := buildRunOverlay(t, secrets)
	// An external store's bucket is its operator's to make.
	if err := store.CreateBucket(ctx, bucket); err != nil {
		t.Fatal(err)
	}
	c := newKubeCluster(t, r, o)
	c.external[backupStoreHost] = store.Port

	// Dependency order, each group ready before the next starts: etcd
	// holds the topology everything reads; the Jobs create the keyspace;
	// the other StatefulSets (the tablets) need their shard to exist; the
	// Deployments (gate, admin UI) need the topology. In a cluster they
	// all start at once and the kubelet restarts what starts too early;
	// the order makes restarts needless, so that none hides a fault.
	c.bringUp(ctx, c.workloads("StatefulSet", func(name string) bool { return name == "etcd" }))
	for _, name := range sortedKeys(o.jobs) {
		c.runJobPod(ctx, "Job "+name, name, o.jobs[name].Spec)
	}
	c.bringUp(ctx, c.workloads("StatefulSet", func(name string) bool { return name != "etcd" }))
	c.bringUp(ctx, c.workloads("Deployment", func(string) bool { return true }))
	t.Logf("cluster up and ready after %v", time.Since(began).Round(time.Millisecond))

	// The tables, as README.md's install step applies them: kubectl exec
	// -i into the admin pod, shardctl with the admin's flags, the schema
	// on standard input.
	admin := c.podsOf("Deployment admin")[0]
	schema := c.configMap("commerce-schema").Data["schema.sql"]
	if out, err := c.exec(ctx, admin, "admin", append(c.adminFlags(admin), "schema", "apply", "commerce", "--file=/dev/stdin"), []byte(schema)); err != nil {
		t.Fatalf("schema apply through the admin pod: %v\n%s", err, out)
	}

	c.checkGates(ctx, secrets)
	if err := httpGetOK("http://"+c.serviceAddr("admin", 15000)+"/", 5*time.Second); err != nil {
		t.Errorf("admin UI through its Service: %v", err)
	}

	// The backup CronJob's job, once, as `kubectl create job
	// --from=cronjob/backup-commerce` runs it; its objects land in the
	// store, and the admin pod lists the backup.
	for _, name := range sortedKeys(o.cronJobs) {
		job := fmt.Sprintf("%s-%d", name, time.Now().Unix()/60) // the CronJob controller's name for a run
		c.runJobPod(ctx, "CronJob "+name, job, o.cronJobs[name].Spec.JobTemplate.Spec)
	}
	checkBackupObjects(t, ctx, store, bucket, prefix)
	out, err := c.exec(ctx, admin, "admin", append(c.adminFlags(admin), "backup", "list", "commerce/80-"), nil)
	if err != nil || !strings.Contains(string(out), "zone1-200") {
		t.Fatalf("backup list commerce/80- through the admin pod: %v\n%s\nwant a backup by zone1-200 (alias zone1-20$(POD_INDEX))", err, out)
	}
	t.Logf("backup list commerce/80-:\n%s", out)

	// kubectl delete -k: every pod is terminated at once. Each runs its
	// preStop hooks, then gets SIGTERM, and must exit by itself, with
	// status 0, within its terminationGracePeriodSeconds. With their peers
	// stopping too, etcd's leader gives up its leadership transfer after
	// etcd's request timeout (up to 14 s measured) and a gate its lease
	// revocation after 2 s (topo.EtcdStore.revoke): slower than the
	// compose test's dependents-first stop, still within the grace.
	var wg sync.WaitGroup
	for _, p := range c.pods {
		hooks := c.preStopHooks(p)
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.terminatePod(p, hooks)
		}()
	}
	wg.Wait()
	c.checkServersStopped()
	t.Logf("whole run: %v", time.Since(began).Round(time.Millisecond))
}

// makeSecrets runs the example overlay's make-secrets.sh in a copy of the
// overlay's directory and fills in the S3 credentials, as README.md's
// install step has an operator do. It returns the files, by their path
// under deploy/kubernetes.
func makeSecrets(t *testing.T, work string) map[string][]byte {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatalf("make-secrets.sh needs openssl: %v", err)
	}
	dir := filepath.Join(work, "example-overlay")
	if err := os.MkdirAll(filepath.Join(dir, "secrets"), 0o700); err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy/kubernetes/overlays/example/make-secrets.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "make-secrets.sh"), script, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("sh", filepath.Join(dir, "make-secrets.sh")).CombinedOutput(); err != nil {
		t.Fatalf("make-secrets.sh: %v\n%s", err, out)
	}
	creds := fmt.Sprintf("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n", s3server.AccessKey, s3server.SecretKey)
	if err := os.WriteFile(filepath.Join(dir, "secrets", "s3-credentials"), []byte(creds), 0o600); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Join(dir, "secrets"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, "secrets", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files["overlays/example/secrets/"+e.Name()] = data
	}
	return files
}

// buildRunOverlay builds the example overlay with the secrets, and then
// an overlay of it that points backup-storage at the test's store (the
// example's bucket and prefix, the store's endpoint and region), as an
// operator's overlay sets the backup URL. It returns the objects, the
// bucket and the prefix.
func buildRunOverlay(t *testing.T, secrets map[string][]byte) (objects, string, string) {
	t.Helper()
	example := decodeAll(t, buildKustomization(t, "overlays/example", secrets))
	ns := onlyNamespace(t, example)
	storage := generated(t, example.configMaps, "shardgate-config").Data["backup-storage"]
	u, err := url.Parse(storage)
	if err != nil || u.Scheme != "s3" {
		t.Fatalf("the example's backup-storage %q: want an s3:// URL (%v)", storage, err)
	}
	bucket, prefix := u.Host, strings.Trim(u.Path, "/")
	// Unencoded, as docker-compose.yml writes it: the tablet reads the
	// endpoint as it is.
	local := fmt.Sprintf("s3://%s/%s?endpoint=http://%s&region=%s&use_path_style=true", bucket, prefix, backupStoreHost, s3server.Region)
	k, err := yaml.Marshal(map[string]any{
		"apiVersion": "kustomize.config.k8s.io/v1beta1",
		"kind":       "Kustomization",
		"namespace":  ns,
		"resources":  []string{"../example"},
		"configMapGenerator": []map[string]any{{
			"name": "shardgate-config", "behavior": "merge", "literals": []string{"backup-storage=" + local},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"overlays/test-run/kustomization.yaml": k}
	for name, data := range secrets {
		files[name] = data
	}
	o := decodeAll(t, buildKustomization(t, "overlays/test-run", files))
	if t.Failed() {
		t.FailNow()
	}
	return o, bucket, prefix
}

func onlyNamespace(t *testing.T, o objects) string {
	t.Helper()
	if len(o.namespaces) != 1 {
		t.Fatalf("the overlay has %d namespaces, want 1", len(o.namespaces))
	}
	for name := range o.namespaces {
		return name
	}
	return ""
}

// generated is the object a kustomize generator made as name (name-hash).
func generated[T any](t *testing.T, m map[string]*T, name string) *T {
	t.Helper()
	for n, obj := range m {
		if i := strings.LastIndex(n, "-"); i > 0 && n[:i] == name {
			return obj
		}
	}
	t.Fatalf("no generated object %s", name)
	return nil
}

func sortedKeys[T any](m map[string]T) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// adminFlags are the admin container's shardctl flags before its
// subcommand (serve): what README.md's kubectl exec commands give.
func (c *kubeCluster) adminFlags(p *kubePod) []string {
	ctr := p.spec.Containers[0]
	args := argvOf(ctr, c.image(ctr.Image), nil)
	for i, a := range args {
		if a == "serve" {
			return args[:i:i]
		}
	}
	c.t.Fatalf("%s: %q runs no shardctl serve", p.name, args)
	return nil
}

// checkGates connects to the gate Service as a client in the cluster
// would (gate.NAMESPACE, TLS verified against the overlay's CA, the users
// file's root password), writes and reads through it, and checks that
// every gate pod sees the rows. The certificate must hold every name
// of the Service.
func (c *kubeCluster) checkGates(ctx context.Context, secrets map[string][]byte) {
	t := c.t
	t.Helper()
	var users struct {
		Users []struct{ User, Password string } `json:"users"`
	}
	if err := json.Unmarshal(secrets["overlays/example/secrets/users.json"], &users); err != nil || len(users.Users) == 0 {
		t.Fatalf("users.json of make-secrets.sh: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(secrets["overlays/example/secrets/ca.crt"]) {
		t.Fatal("ca.crt of make-secrets.sh holds no certificate")
	}
	pair, err := tls.X509KeyPair(secrets["overlays/example/secrets/tls.crt"], secrets["overlays/example/secrets/tls.key"])
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"gate", "gate." + c.ns, "gate." + c.ns + ".svc", "gate." + c.ns + ".svc.cluster.local"} {
		if err := pair.Leaf.VerifyHostname(name); err != nil {
			t.Errorf("a client that verifies the gate's certificate cannot reach it as %s: %v", name, err)
		}
	}
	if err := mysql.RegisterTLSConfig("kubernetes", &tls.Config{RootCAs: pool, ServerName: "gate." + c.ns}); err != nil {
		t.Fatal(err)
	}
	open := func(addr string) *sql.DB {
		u := users.Users[0]
		db, err := sql.Open("mysql", fmt.Sprintf("%s:%s@tcp(%s)/commerce?timeout=5s&tls=kubernetes", u.User, u.Password, addr))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	checkCustomers(t, ctx, open(c.serviceAddr("gate", 3306)))
	for _, p := range c.podsOf("Deployment gate") {
		port, err := containerPort(p, intstr.FromString("mysql"), 0)
		if err != nil {
			t.Fatal(err)
		}
		local := c.podPort(p, port)
		var n int
		if err := open("127.0.0.1:"+strconv.Itoa(local)).QueryRowContext(ctx, "select count(*) from customer").Scan(&n); err != nil || n != 40 {
			t.Errorf("gate pod %s counts %d customers (%v), want 40", p.name, n, err)
		}
	}
}

// configMap is the overlay's generated ConfigMap name.
func (c *kubeCluster) configMap(name string) *corev1.ConfigMap {
	return generated(c.t, c.o.configMaps, name)
}

// checkBackupObjects checks, through the S3 API, that the backup's
// objects are in the store under the overlay's bucket and prefix.
func checkBackupObjects(t *testing.T, ctx context.Context, store *s3server.Server, bucket, prefix string) {
	t.Helper()
	out, err := store.Client().ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix + "/")})
	if err != nil {
		t.Fatalf("list s3://%s/%s/: %v", bucket, prefix, err)
	}
	if len(out.Contents) == 0 {
		t.Fatalf("no object under s3://%s/%s/ after the backup job", bucket, prefix)
	}
	t.Logf("the backup store holds %d objects under s3://%s/%s/, e.g. %s", len(out.Contents), bucket, prefix, aws.ToString(out.Contents[0].Key))
}
