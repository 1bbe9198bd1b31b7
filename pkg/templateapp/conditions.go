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

package templateapp

import (
	"errors"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The conditions of a template application, as the platform documents
// them; each stage runs only once the one before it is true.
const (
	// ConditionInitialized: the chart was downloaded.
	ConditionInitialized = "Initialized"
	// ConditionValidated: the checks of the requester's permissions, the
	// chart's dependencies and its namespace passed.
	ConditionValidated = "Validated"
	// ConditionSynced: the chart is deployed as asked.
	ConditionSynced = "Synced"
)

// Conditions lists the condition types of a template application.
var Conditions = []string{ConditionInitialized, ConditionValidated, ConditionSynced}

// The reasons of a false condition, as the platform documents them.
const (
	// ReasonInitializeFailed: the application failed before the chart
	// was downloaded (its annotations are malformed, or no requester is
	// recorded).
	ReasonInitializeFailed = "InitializeFailed"
	// ReasonChartLoadFailed: the chart could not be downloaded (no such
	// repository, chart or version, or the package is unusable).
	ReasonChartLoadFailed = "ChartLoadFailed"
	// ReasonDependenciesCheckFailed: the chart's dependencies are
	// missing, the cluster does not serve a kind of it, or the values do
	// not satisfy the chart's schema.
	ReasonDependenciesCheckFailed = "DependenciesCheckFailed"
	// ReasonPermissionCheckFailed: the requester may not do what the
	// chart needs.
	ReasonPermissionCheckFailed = "PermissionCheckFailed"
	// ReasonConsistentNamespaceCheckFailed: the chart holds objects of
	// another namespace or of the cluster.
	ReasonConsistentNamespaceCheckFailed = "ConsistentNamespaceCheckFailed"
	// ReasonChartSyncFailed: helm failed to install, upgrade, roll back
	// or uninstall.
	ReasonChartSyncFailed = "ChartSyncFailed"
)

// The reasons of a true condition.
const (
	ReasonChartLoaded  = "ChartLoaded"
	ReasonChecksPassed = "ChecksPassed"
	ReasonChartSynced  = "ChartSynced"
)

// reasonStage is the condition each failure reason makes false.
var reasonStage = map[string]string{
	ReasonInitializeFailed:               ConditionInitialized,
	ReasonChartLoadFailed:                ConditionInitialized,
	ReasonDependenciesCheckFailed:        ConditionValidated,
	ReasonPermissionCheckFailed:          ConditionValidated,
	ReasonConsistentNamespaceCheckFailed: ConditionValidated,
	ReasonChartSyncFailed:                ConditionSynced,
}

// Failure is a stage of a template application failing: its reason and a
// message the user can act on.
type Failure struct {
	Reason  string
	Message string
	// Retry says the stage may pass later without a change of the
	// application: a repository synchronizing, a version uploaded.
	Retry bool
}

func (f *Failure) Error() string { return f.Reason + ": " + f.Message }

// Fail returns the failure of reason with message.
func Fail(reason, message string) *Failure { return &Failure{Reason: reason, Message: message} }

// FailForNow returns the failure of reason with message, to be tried
// again later.
func FailForNow(reason, message string) *Failure {
	return &Failure{Reason: reason, Message: message, Retry: true}
}

// AsFailure finds the Failure in err.
func AsFailure(err error) (*Failure, bool) {
	var f *Failure
	ok := errors.As(err, &f)
	return f, ok
}

// trueReasons and trueMessages are what each condition says when true;
// Synced says what is deployed instead.
var (
	trueReasons  = []string{ReasonChartLoaded, ReasonChecksPassed, ReasonChartSynced}
	trueMessages = []string{"the chart was downloaded",
		"the requester's permissions, the chart's dependencies and its namespace were checked", ""}
)

// Report sets the three conditions in conditions: true up to the stage
// that failed, false from it on, each later stage false with the failure's
// reason and message too, since it cannot succeed. A nil failure makes
// all three true; synced then says what is deployed.
func Report(conditions *[]metav1.Condition, generation int64, failure *Failure, synced string) {
	failedAt := len(Conditions)
	if failure != nil {
		for i, stage := range Conditions {
			if stage == reasonStage[failure.Reason] {
				failedAt = i
			}
		}
	}
	for i, stage := range Conditions {
		message := trueMessages[i]
		if stage == ConditionSynced {
			message = synced
		}
		condition := metav1.Condition{Type: stage, Status: metav1.ConditionTrue, Reason: trueReasons[i], ObservedGeneration: generation, Message: message}
		if i >= failedAt {
			condition.Status, condition.Reason, condition.Message = metav1.ConditionFalse, failure.Reason, failure.Message
		}
		meta.SetStatusCondition(conditions, condition)
	}
}

// Forget removes the conditions of a template application, once it is
// one no more.
func Forget(conditions *[]metav1.Condition) {
	for _, stage := range Conditions {
		meta.RemoveStatusCondition(conditions, stage)
	}
}
