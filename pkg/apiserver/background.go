/*
Copyright The Archon Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package apiserver

import (
	"context"
	"fmt"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/wait"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	componentbaseconfig "k8s.io/component-base/config"
	"k8s.io/klog/v2"
)

// where a background task runs.
type where int

const (
	// everyReplica tasks run on each replica: they keep what the replica
	// serves current (caches, indexes, informers).
	everyReplica where = iota
	// leaderElected tasks run on the one replica holding the controllers'
	// Lease: they write to the cluster, and two writers would fight.
	leaderElected
)

// backgroundTask is work the server does besides answering requests.
type backgroundTask struct {
	name  string
	where where
	// needs says what the task reads and writes.
	needs string
	run   func(ctx context.Context)
}

// backgroundTasks is everything archon runs in the background, in one
// table: what runs where, and what it needs. Parts a configuration leaves
// out (standalone, no container registry) leave their tasks out.
func (s *assembly) backgroundTasks() []backgroundTask {
	tasks := []backgroundTask{
		{"project-visibility-index", everyReplica, "projects in etcd; answers members' lists and watches",
			s.projects.RunVisibilityIndex},
	}
	if s.images != nil {
		tasks = append(tasks, backgroundTask{"image-cache", everyReplica,
			"the container registry's catalog and notifications; answers images lists and watches",
			func(ctx context.Context) { s.images.cache.Run(ctx, imageCacheWorkers) }})
	}
	if s.clients.standalone() {
		return tasks
	}
	workers := s.extra.Controllers.Workers
	tasks = append(tasks,
		backgroundTask{"archon-informers", everyReplica,
			"watches of kube-apiserver and archon for the webhooks and controllers, warm on every replica",
			s.informers.start},
		backgroundTask{"namespace-import-recovery", everyReplica,
			"NamespaceImports left Importing by a stopped replica, finished with their requester's rights",
			s.imports.RecoverInterrupted},
		backgroundTask{"chartrepo-sync", everyReplica,
			"chart repositories and their secrets; fills this replica's chart catalog",
			func(ctx context.Context) { s.charts.sync.Run(ctx, workers) }},
	)
	if s.images != nil {
		tasks = append(tasks, backgroundTask{"chartrepo-follow-platform-registry", everyReplica,
			"the image cache; tells chartrepo-sync of charts pushed to the platform registry",
			func(ctx context.Context) { s.charts.sync.FollowRegistry(ctx, s.images.host, s.images.cache) }})
	}
	for _, c := range s.controllers {
		tasks = append(tasks, backgroundTask{c.name, leaderElected, c.needs,
			func(ctx context.Context) { c.controller.Run(ctx, workers) }})
	}
	return tasks
}

// addBackgroundTasks starts the tasks once the server serves: each
// every-replica task from a post-start hook of its name, the
// leader-elected ones together from the hook archon-controllers while
// this replica leads.
func addBackgroundTasks(server *genericapiserver.GenericAPIServer, tasks []backgroundTask, kube kubernetes.Interface,
	election componentbaseconfig.LeaderElectionConfiguration) error {
	var leading []backgroundTask
	for _, task := range tasks {
		if task.where == leaderElected {
			leading = append(leading, task)
			continue
		}
		run := task.run
		if err := server.AddPostStartHook(task.name, func(hook genericapiserver.PostStartHookContext) error {
			go run(hook)
			return nil
		}); err != nil {
			return err
		}
	}
	if len(leading) == 0 {
		return nil
	}
	runLeading := func(ctx context.Context) {
		for _, task := range leading {
			go task.run(klog.NewContext(ctx, klog.FromContext(ctx).WithValues("controller", task.name)))
		}
		<-ctx.Done()
	}
	if !election.LeaderElect {
		klog.InfoS("Leader election is off: this replica runs the controllers whatever other replicas do; run one replica only")
		return server.AddPostStartHook("archon-controllers", func(hook genericapiserver.PostStartHookContext) error {
			go runLeading(hook)
			return nil
		})
	}
	// The check fails when this replica leads but has not renewed its
	// Lease in time: its controllers may be stuck while no other replica
	// may take over. It is a liveness check only (/livez), so a stuck
	// leader is restarted; readiness stays with serving, which a stuck
	// controller does not stop.
	watchdog := leaderelection.NewLeaderHealthzAdaptor(20 * time.Second)
	if err := server.AddLivezChecks(0, watchdog); err != nil {
		return err
	}
	return server.AddPostStartHook("archon-controllers", func(hook genericapiserver.PostStartHookContext) error {
		go runWhileLeading(hook, kube, election, watchdog, runLeading)
		return nil
	})
}

// runWhileLeading runs run while this replica holds the Lease; a replica
// that loses it stops run and competes again.
func runWhileLeading(ctx context.Context, kube kubernetes.Interface, election componentbaseconfig.LeaderElectionConfiguration,
	watchdog *leaderelection.HealthzAdaptor, run func(context.Context)) {
	logger := klog.FromContext(ctx)
	hostname, _ := os.Hostname()
	identity := hostname + "_" + string(uuid.NewUUID())
	lock, err := resourcelock.New(election.ResourceLock, election.ResourceNamespace, election.ResourceName,
		kube.CoreV1(), kube.CoordinationV1(), resourcelock.ResourceLockConfig{Identity: identity})
	if err != nil {
		logger.Error(err, "Controllers cannot elect a leader; they do not run on this replica")
		return
	}
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		leaderelection.RunOrDie(ctx, leaderelection.LeaderElectionConfig{
			Name:            election.ResourceName,
			Lock:            lock,
			LeaseDuration:   election.LeaseDuration.Duration,
			RenewDeadline:   election.RenewDeadline.Duration,
			RetryPeriod:     election.RetryPeriod.Duration,
			ReleaseOnCancel: true,
			WatchDog:        watchdog,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(ctx context.Context) {
					logger.Info("Started leading archon's controllers", "identity", identity)
					run(ctx)
				},
				OnStoppedLeading: func() { logger.Info("Stopped leading archon's controllers", "identity", identity) },
			},
		})
	}, time.Second)
}

// ValidateLeaderElection checks what leaderelection.NewLeaderElector
// would refuse at start-up, so that a bad flag fails the command instead.
func ValidateLeaderElection(election componentbaseconfig.LeaderElectionConfiguration) []error {
	if !election.LeaderElect {
		return nil
	}
	var errs []error
	lease, renew, retry := election.LeaseDuration.Duration, election.RenewDeadline.Duration, election.RetryPeriod.Duration
	if lease <= renew {
		errs = append(errs, fmt.Errorf("--leader-elect-lease-duration (%v) must be longer than --leader-elect-renew-deadline (%v)", lease, renew))
	}
	if float64(renew) <= leaderelection.JitterFactor*float64(retry) {
		errs = append(errs, fmt.Errorf("--leader-elect-renew-deadline (%v) must be longer than %v × --leader-elect-retry-period (%v)", renew, leaderelection.JitterFactor, retry))
	}
	if retry <= 0 {
		errs = append(errs, fmt.Errorf("--leader-elect-retry-period must be positive"))
	}
	if election.ResourceLock != resourcelock.LeasesResourceLock {
		errs = append(errs, fmt.Errorf("--leader-elect-resource-lock %q: archon elects with %q", election.ResourceLock, resourcelock.LeasesResourceLock))
	}
	if election.ResourceName == "" || election.ResourceNamespace == "" {
		errs = append(errs, fmt.Errorf("--leader-elect-resource-name and --leader-elect-resource-namespace must be set"))
	}
	return errs
}
