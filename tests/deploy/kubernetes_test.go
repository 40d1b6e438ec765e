package deploy

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// buildOverlay builds deploy/kubernetes/overlays/example with the secret
// files make-secrets.sh would make (placeholders: only their names
// matter).
func buildOverlay(t *testing.T) [][]byte {
	t.Helper()
	extra := map[string][]byte{}
	for _, f := range []string{"users.json", "ca.crt", "tls.crt", "tls.key", "s3-credentials"} {
		extra["overlays/example/secrets/"+f] = []byte("placeholder")
	}
	return buildKustomization(t, "overlays/example", extra)
}

// buildKustomization builds dir (relative to deploy/kubernetes) with
// kustomize's Go API on an in-memory copy of deploy/kubernetes, with the
// extra files (by path relative to deploy/kubernetes) added.
func buildKustomization(t *testing.T, dir string, extra map[string][]byte) [][]byte {
	t.Helper()
	src := filepath.Join(repoRoot(t), "deploy/kubernetes")
	fs := filesys.MakeFsInMemory()
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		return fs.WriteFile(filepath.Join("/k", rel), data)
	})
	if err != nil {
		t.Fatal(err)
	}
	for rel, data := range extra {
		if err := fs.WriteFile(filepath.Join("/k", rel), data); err != nil {
			t.Fatal(err)
		}
	}
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fs, filepath.Join("/k", dir))
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var docs [][]byte
	for _, r := range m.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, y)
	}
	return docs
}

// objects are the overlay's objects, decoded strictly into their types.
type objects struct {
	namespaces   map[string]*corev1.Namespace
	secrets      map[string]*corev1.Secret
	configMaps   map[string]*corev1.ConfigMap
	services     map[string]*corev1.Service
	classes      map[string]*storagev1.StorageClass
	statefulSets map[string]*appsv1.StatefulSet
	deployments  map[string]*appsv1.Deployment
	jobs         map[string]*batchv1.Job
	cronJobs     map[string]*batchv1.CronJob
	pdbs         map[string]*policyv1.PodDisruptionBudget
	hpas         map[string]*autoscalingv2.HorizontalPodAutoscaler
}

func decodeStrict[T any](t *testing.T, doc []byte, into map[string]*T, name string) {
	t.Helper()
	obj := new(T)
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		t.Errorf("%s: %v", name, err)
		return
	}
	into[name] = obj
}

func decodeAll(t *testing.T, docs [][]byte) objects {
	t.Helper()
	o := objects{map[string]*corev1.Namespace{}, map[string]*corev1.Secret{}, map[string]*corev1.ConfigMap{}, map[string]*corev1.Service{},
		map[string]*storagev1.StorageClass{}, map[string]*appsv1.StatefulSet{}, map[string]*appsv1.Deployment{}, map[string]*batchv1.Job{},
		map[string]*batchv1.CronJob{}, map[string]*policyv1.PodDisruptionBudget{}, map[string]*autoscalingv2.HorizontalPodAutoscaler{}}
	for _, doc := range docs {
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name, Namespace string
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(doc, &head); err != nil {
			t.Fatal(err)
		}
		name := head.Metadata.Name
		switch head.APIVersion + " " + head.Kind {
		case "v1 Namespace":
			decodeStrict(t, doc, o.namespaces, name)
		case "v1 Secret":
			decodeStrict(t, doc, o.secrets, name)
		case "v1 ConfigMap":
			decodeStrict(t, doc, o.configMaps, name)
		case "v1 Service":
			decodeStrict(t, doc, o.services, name)
		case "storage.k8s.io/v1 StorageClass":
			decodeStrict(t, doc, o.classes, name)
		case "apps/v1 StatefulSet":
			decodeStrict(t, doc, o.statefulSets, name)
		case "apps/v1 Deployment":
			decodeStrict(t, doc, o.deployments, name)
		case "batch/v1 Job":
			decodeStrict(t, doc, o.jobs, name)
		case "batch/v1 CronJob":
			decodeStrict(t, doc, o.cronJobs, name)
		case "policy/v1 PodDisruptionBudget":
			decodeStrict(t, doc, o.pdbs, name)
		case "autoscaling/v2 HorizontalPodAutoscaler":
			decodeStrict(t, doc, o.hpas, name)
		default:
			t.Errorf("%s %s: a kind this test does not check", head.Kind, name)
		}
		if head.Kind != "Namespace" && head.Kind != "StorageClass" && head.Metadata.Namespace != "shardgate" {
			t.Errorf("%s %s: namespace %q, want the overlay's shardgate", head.Kind, name, head.Metadata.Namespace)
		}
	}
	return o
}

// podSpecs are every pod template, by owner.
func (o objects) podSpecs() map[string]corev1.PodTemplateSpec {
	out := map[string]corev1.PodTemplateSpec{}
	for n, s := range o.statefulSets {
		out["StatefulSet "+n] = s.Spec.Template
	}
	for n, d := range o.deployments {
		out["Deployment "+n] = d.Spec.Template
	}
	for n, j := range o.jobs {
		out["Job "+n] = j.Spec.Template
	}
	for n, c := range o.cronJobs {
		out["CronJob "+n] = c.Spec.JobTemplate.Spec.Template
	}
	return out
}

func TestKubernetesManifestsAreValidAndConsistent(t *testing.T) {
	o := decodeAll(t, buildOverlay(t))
	if t.Failed() {
		t.FailNow()
	}

	// The database volumes' class.
	sc, ok := o.classes["shardgate-db"]
	if !ok {
		t.Fatal("no StorageClass shardgate-db")
	}
	if sc.ReclaimPolicy == nil || *sc.ReclaimPolicy != corev1.PersistentVolumeReclaimRetain {
		t.Errorf("StorageClass shardgate-db: reclaim policy %v, want Retain", sc.ReclaimPolicy)
	}
	if sc.AllowVolumeExpansion == nil || !*sc.AllowVolumeExpansion {
		t.Error("StorageClass shardgate-db: allowVolumeExpansion is not true")
	}
	if sc.VolumeBindingMode == nil || *sc.VolumeBindingMode != storagev1.VolumeBindingWaitForFirstConsumer {
		t.Error("StorageClass shardgate-db: volumeBindingMode is not WaitForFirstConsumer")
	}
	if etcd := o.statefulSets["etcd"]; etcd == nil || etcd.Spec.Replicas == nil || *etcd.Spec.Replicas != 3 {
		t.Error("etcd: want a StatefulSet of 3 members")
	}

	// The vschema and schema in the ConfigMap are the example's.
	var schemaCM *corev1.ConfigMap
	for n, cm := range o.configMaps {
		if strings.HasPrefix(n, "commerce-schema-") {
			schemaCM = cm
		}
	}
	if schemaCM == nil {
		t.Fatal("no ConfigMap commerce-schema")
	}
	for key, file := range map[string]string{"vschema.json": "examples/commerce/vschema.json", "schema.sql": "examples/commerce/schema.sql"} {
		want, _ := os.ReadFile(filepath.Join(repoRoot(t), file))
		if !bytes.Equal([]byte(schemaCM.Data[key]), want) {
			t.Errorf("ConfigMap commerce-schema %s differs from %s (copy it to deploy/kubernetes/base)", key, file)
		}
	}

	for owner, tmpl := range o.podSpecs() {
		spec := tmpl.Spec
		volumes := map[string]bool{}
		for _, v := range spec.Volumes {
			volumes[v.Name] = true
			if v.Secret != nil && o.secrets[v.Secret.SecretName] == nil {
				t.Errorf("%s: volume %s: Secret %s does not exist", owner, v.Name, v.Secret.SecretName)
			}
			if v.ConfigMap != nil && o.configMaps[v.ConfigMap.Name] == nil {
				t.Errorf("%s: volume %s: ConfigMap %s does not exist", owner, v.Name, v.ConfigMap.Name)
			}
		}
		if sts, ok := o.statefulSets[strings.TrimPrefix(owner, "StatefulSet ")]; ok {
			for _, c := range sts.Spec.VolumeClaimTemplates {
				volumes[c.Name] = true
				if c.Spec.StorageClassName == nil || o.classes[*c.Spec.StorageClassName] == nil {
					t.Errorf("%s: claim %s: StorageClass %v does not exist", owner, c.Name, c.Spec.StorageClassName)
				}
			}
			if o.services[sts.Spec.ServiceName] == nil {
				t.Errorf("%s: serviceName %s does not exist", owner, sts.Spec.ServiceName)
			}
		}
		if spec.SecurityContext == nil || spec.SecurityContext.RunAsNonRoot == nil || !*spec.SecurityContext.RunAsNonRoot {
			if !strings.HasSuffix(owner, " etcd") {
				t.Errorf("%s: does not require a non-root user", owner)
			}
		}
		for _, c := range spec.Containers {
			args := append(append([]string{}, c.Command...), c.Args...)
			served := servedPorts(args)
			ports := map[string]int32{}
			for _, p := range c.Ports {
				ports[p.Name] = p.ContainerPort
				if _, ok := served[int(p.ContainerPort)]; !ok {
					t.Errorf("%s/%s declares port %d, which its command does not serve (serves %v)", owner, c.Name, p.ContainerPort, served)
				}
			}
			for _, m := range c.VolumeMounts {
				if !volumes[m.Name] {
					t.Errorf("%s/%s mounts %s, which is no volume or claim", owner, c.Name, m.Name)
				}
			}
			for _, e := range c.Env {
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
					t.Errorf("%s/%s: env %s takes a secret's value: mount it as a file", owner, c.Name, e.Name)
				}
				if e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil {
					cm := o.configMaps[e.ValueFrom.ConfigMapKeyRef.Name]
					if cm == nil {
						t.Errorf("%s/%s: env %s: ConfigMap %s does not exist", owner, c.Name, e.Name, e.ValueFrom.ConfigMapKeyRef.Name)
					} else if _, ok := cm.Data[e.ValueFrom.ConfigMapKeyRef.Key]; !ok {
						t.Errorf("%s/%s: env %s: ConfigMap %s has no key %s", owner, c.Name, e.Name, cm.Name, e.ValueFrom.ConfigMapKeyRef.Key)
					}
				}
			}
			for kind, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe, "startup": c.StartupProbe} {
				if p == nil || p.HTTPGet == nil {
					continue
				}
				port := p.HTTPGet.Port.IntVal
				if p.HTTPGet.Port.StrVal != "" {
					var ok bool
					if port, ok = ports[p.HTTPGet.Port.StrVal]; !ok {
						t.Errorf("%s/%s: %s probe names port %s, which the container does not declare", owner, c.Name, kind, p.HTTPGet.Port.StrVal)
						continue
					}
				}
				if served[int(port)] == "" {
					t.Errorf("%s/%s: %s probe on port %d, which the process does not serve (serves %v)", owner, c.Name, kind, port, served)
				}
				if kind == "readiness" && strings.HasPrefix(args[0], "shard") && args[0] != "shardctl" && p.HTTPGet.Path != "/readyz" {
					t.Errorf("%s/%s: readiness probe on %s, want /readyz", owner, c.Name, p.HTTPGet.Path)
				}
			}
			if strings.HasPrefix(owner, "Deployment") || strings.HasPrefix(owner, "StatefulSet") {
				if c.LivenessProbe == nil || c.ReadinessProbe == nil {
					t.Errorf("%s/%s: wants liveness and readiness probes", owner, c.Name)
				}
			}
		}
	}

	// Services select pods and point at ports they declare.
	for name, svc := range o.services {
		sel := labels.SelectorFromSet(svc.Spec.Selector)
		var matched []corev1.PodTemplateSpec
		for _, tmpl := range o.podSpecs() {
			if sel.Matches(labels.Set(tmpl.Labels)) {
				matched = append(matched, tmpl)
			}
		}
		if len(matched) == 0 {
			t.Errorf("Service %s selects no pod", name)
		}
		for _, sp := range svc.Spec.Ports {
			for _, tmpl := range matched {
				found := false
				for _, c := range tmpl.Spec.Containers {
					for _, cp := range c.Ports {
						if cp.Name == sp.TargetPort.StrVal || (sp.TargetPort.StrVal == "" && cp.ContainerPort == sp.TargetPort.IntVal) {
							found = true
						}
					}
				}
				if !found {
					t.Errorf("Service %s port %s: target %s is no port of the pods it selects", name, sp.Name, sp.TargetPort.String())
				}
			}
		}
	}
	// A shard's tablets keep off each other's nodes.
	for name, sts := range o.statefulSets {
		aff := sts.Spec.Template.Spec.Affinity
		if aff == nil || aff.PodAntiAffinity == nil || len(aff.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) == 0 {
			t.Errorf("StatefulSet %s: no required pod anti-affinity", name)
			continue
		}
		term := aff.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0]
		sel, err := metav1LabelSelector(term.LabelSelector)
		if err != nil || !sel.Matches(labels.Set(sts.Spec.Template.Labels)) || term.TopologyKey != "kubernetes.io/hostname" {
			t.Errorf("StatefulSet %s: anti-affinity does not keep its own pods on separate nodes", name)
		}
	}
	// The gate's PDB and HPA point at it.
	if pdb := o.pdbs["gate"]; pdb == nil {
		t.Error("no PodDisruptionBudget gate")
	} else if sel, _ := metav1LabelSelector(pdb.Spec.Selector); !sel.Matches(labels.Set(o.deployments["gate"].Spec.Template.Labels)) {
		t.Error("PodDisruptionBudget gate does not select the gate's pods")
	}
	if hpa := o.hpas["gate"]; hpa == nil || hpa.Spec.ScaleTargetRef.Kind != "Deployment" || o.deployments[hpa.Spec.ScaleTargetRef.Name] == nil {
		t.Error("HorizontalPodAutoscaler gate does not scale the gate's Deployment")
	}
	if len(o.cronJobs) == 0 {
		t.Error("no CronJob for backups")
	}
}

func metav1LabelSelector(s *metav1.LabelSelector) (labels.Selector, error) {
	return metav1.LabelSelectorAsSelector(s)
}
