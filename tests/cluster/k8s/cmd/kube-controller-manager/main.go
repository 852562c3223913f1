// kube-controller-manager as upstream builds it, with the Job controller's pod-failure backoff
// (10 s doubling to 10 min, no flag) shortened so that backoffLimit tests take seconds.
package main

import (
	"os"
	"time"
	_ "time/tzdata" // CronJob time zones, as upstream

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
	"k8s.io/kubernetes/pkg/controller/job"
)

func main() {
	job.DefaultJobPodFailureBackOff = 100 * time.Millisecond
	job.MaxJobPodFailureBackOff = time.Second
	os.Exit(cli.Run(app.NewControllerManagerCommand()))
}
