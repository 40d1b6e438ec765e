// Package deploy checks what deploy/ and docker-compose.yml describe,
// short of a container engine or a Kubernetes cluster, which the test
// machines do not have:
//
//   - docker-compose.yml loads with compose-go (the compose specification's
//     schema: unknown fields are errors), every secret, config, volume and
//     dependency it names exists, every health check and published port
//     points at a port the service's process serves, and the images'
//     Dockerfile targets exist;
//   - the Kubernetes overlay builds with kustomize's own Go API and every
//     object decodes strictly into its k8s.io/api type, with the same
//     cross-reference checks;
//   - TestComposeClusterServes runs every service of docker-compose.yml as a
//     local process with exactly the command and environment written there
//     (service names and 0.0.0.0 mapped to 127.0.0.1, each port to a free
//     one, volumes to temporary directories, secrets and configs to their
//     files, the images' binaries to the repository's bin/), in depends_on
//     order, checks that the gate serves queries, that a backup to the S3
//     store succeeds, and that SIGTERM stops every process with status 0
//     within its stop_grace_period;
//   - TestKubernetesClusterServes does the same for the Kubernetes overlay:
//     every pod of every workload as local processes, with what the kubelet
//     and the cluster would give them (kubelet_test.go tells how), the
//     manifests' probes, README's kubectl exec steps, a run of the backup
//     CronJob to an S3 store, and every pod terminated within its grace
//     period. local_test.go holds what both runs share.
package deploy
