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

package acp

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"helm.sh/helm/v3/pkg/strvals"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/acp-archon/archon/pkg/application"
	"github.com/acp-archon/archon/pkg/templateapp"
)

// chartValues are the flags that give a template application values, as
// helm's own do.
type chartValues struct {
	files, set, setString []string
}

func (v *chartValues) addFlags(cmd *cobra.Command) {
	cmd.Flags().StringArrayVarP(&v.files, "values", "f", nil, "A YAML file of values (can repeat; later ones win).")
	cmd.Flags().StringArrayVar(&v.set, "set", nil, "A value, as helm's --set takes it: key=value, a.b=value, list={a,b} (can repeat).")
	cmd.Flags().StringArrayVar(&v.setString, "set-string", nil, "A string value, as helm's --set-string takes it (can repeat).")
}

// mergeInto merges the flags' values into values: files, then --set, then
// --set-string.
func (v *chartValues) mergeInto(values map[string]any) error {
	for _, file := range v.files {
		data, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		var read map[string]any
		if err := yaml.Unmarshal(data, &read); err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		mergeValues(values, read)
	}
	for _, s := range v.set {
		if err := strvals.ParseInto(s, values); err != nil {
			return fmt.Errorf("--set %s: %w", s, err)
		}
	}
	for _, s := range v.setString {
		if err := strvals.ParseIntoString(s, values); err != nil {
			return fmt.Errorf("--set-string %s: %w", s, err)
		}
	}
	return nil
}

// mergeValues merges src into dst, maps key by key, as helm merges
// values files.
func mergeValues(dst, src map[string]any) {
	for k, v := range src {
		if next, ok := v.(map[string]any); ok {
			if current, ok := dst[k].(map[string]any); ok {
				mergeValues(current, next)
				continue
			}
		}
		dst[k] = v
	}
}

// createTemplateCommand is "kubectl acp app create".
func (a *appOptions) createTemplateCommand() *cobra.Command {
	var source, version string
	var values chartValues
	var dryRun bool
	var waitFor time.Duration
	cmd := &cobra.Command{
		Use:   "create NAME --chart REPO/CHART --version VERSION",
		Short: "Create a template application: archon installs the chart as you",
		Example: `  kubectl acp app create web -n shop --chart team/web --version 0.1.0 --set replicaCount=2 --wait 2m
  kubectl acp app create web -n shop --chart team/web --version 0.1.0 -f values.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, namespace, err := a.dynamic()
			if err != nil {
				return err
			}
			chosen := map[string]any{}
			if err := values.mergeInto(chosen); err != nil {
				return err
			}
			encoded, err := json.Marshal(chosen)
			if err != nil {
				return err
			}
			app := &unstructured.Unstructured{Object: map[string]any{"apiVersion": application.Resource.GroupVersion().String(), "kind": "Application"}}
			app.SetName(args[0])
			app.SetNamespace(namespace)
			app.SetAnnotations(map[string]string{templateapp.SourceAnnotation: source, templateapp.VersionAnnotation: version,
				templateapp.ValuesAnnotation: string(encoded)})
			if _, err := templateapp.TemplateOf(app); err != nil {
				return err
			}
			_, err = client.Resource(application.Resource).Namespace(namespace).Create(cmd.Context(), app, createOptions(dryRun))
			if err != nil {
				return fmt.Errorf("creating application %s/%s: %w", namespace, args[0], err)
			}
			if dryRun {
				_, err = fmt.Fprintf(a.out, "application %s/%s would install %s %s (dry run: nothing created)\n", namespace, args[0], source, version)
				return err
			}
			fmt.Fprintf(a.out, "application %s/%s created: archon installs %s %s as you\n", namespace, args[0], source, version)
			return a.awaitSynced(cmd.Context(), client, namespace, args[0], nil, waitFor)
		},
	}
	cmd.Flags().StringVar(&source, "chart", "", "The chart: <repository>/<chart> (a repository of the namespace, or of the platform's catalog).")
	cmd.Flags().StringVar(&version, "version", "", "The chart's version (kubectl get chart CHART.REPO -o jsonpath='{.status.versions[*].version}').")
	values.addFlags(cmd)
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "Only check that the application could be created: nothing is.")
	cmd.Flags().DurationVar(&waitFor, "wait", 0, "How long to wait for the chart to be deployed (0: do not wait).")
	_ = cmd.MarkFlagRequired("chart")
	_ = cmd.MarkFlagRequired("version")
	return cmd
}

// upgradeTemplateCommand is "kubectl acp app upgrade".
func (a *appOptions) upgradeTemplateCommand() *cobra.Command {
	var version string
	var values chartValues
	var resetValues, dryRun bool
	var waitFor time.Duration
	cmd := &cobra.Command{
		Use:   "upgrade NAME [--version VERSION] [--set key=value]",
		Short: "Change a template application's chart version or values: archon upgrades the release as you",
		Example: `  kubectl acp app upgrade web -n shop --version 0.2.0
  kubectl acp app upgrade web -n shop --set image.tag=1.27 --wait 2m
  kubectl acp app upgrade web -n shop --reset-values -f values.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, namespace, err := a.dynamic()
			if err != nil {
				return err
			}
			apps := client.Resource(application.Resource).Namespace(namespace)
			app, err := apps.Get(cmd.Context(), args[0], metav1.GetOptions{})
			if err != nil {
				return fmt.Errorf("reading application %s/%s: %w", namespace, args[0], err)
			}
			if !templateapp.IsTemplate(app) {
				return fmt.Errorf("application %s/%s is not a template application: it names no chart", namespace, args[0])
			}
			chosen := map[string]any{}
			if current := app.GetAnnotations()[templateapp.ValuesAnnotation]; !resetValues && current != "" {
				if err := json.Unmarshal([]byte(current), &chosen); err != nil {
					return fmt.Errorf("the application's values are not a JSON object (%w): give them anew with --reset-values", err)
				}
			}
			if err := values.mergeInto(chosen); err != nil {
				return err
			}
			encoded, err := json.Marshal(chosen)
			if err != nil {
				return err
			}
			annotations := map[string]any{templateapp.ValuesAnnotation: string(encoded)}
			if version != "" {
				annotations[templateapp.VersionAnnotation] = version
			}
			patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"resourceVersion": app.GetResourceVersion(), "annotations": annotations}})
			if err != nil {
				return err
			}
			options := metav1.PatchOptions{}
			if dryRun {
				options.DryRun = []string{metav1.DryRunAll}
			}
			patched, err := apps.Patch(cmd.Context(), args[0], types.MergePatchType, patch, options)
			if err != nil {
				return fmt.Errorf("upgrading application %s/%s: %w", namespace, args[0], err)
			}
			if dryRun {
				_, err = fmt.Fprintf(a.out, "application %s/%s would be upgraded (dry run: nothing changed)\n", namespace, args[0])
				return err
			}
			if patched.GetResourceVersion() == app.GetResourceVersion() {
				_, err = fmt.Fprintf(a.out, "application %s/%s unchanged: it already asks for that version and those values\n", namespace, args[0])
				return err
			}
			fmt.Fprintf(a.out, "application %s/%s changed: archon upgrades %s %s as you\n", namespace, args[0],
				patched.GetAnnotations()[templateapp.SourceAnnotation], patched.GetAnnotations()[templateapp.VersionAnnotation])
			before, _ := syncedCondition(app)
			return a.awaitSynced(cmd.Context(), client, namespace, args[0], before, waitFor)
		},
	}
	cmd.Flags().StringVar(&version, "version", "", "The chart version to upgrade to (default: the current one).")
	values.addFlags(cmd)
	cmd.Flags().BoolVar(&resetValues, "reset-values", false, "Start from no values rather than the application's current ones.")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "Only check that the application could be changed: nothing is.")
	cmd.Flags().DurationVar(&waitFor, "wait", 0, "How long to wait for the upgrade to be deployed (0: do not wait).")
	return cmd
}

// detachCommand is "kubectl acp app detach".
func (a *appOptions) detachCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "detach NAME",
		Short:   "Detach a template application from its chart: it becomes a native application and keeps its objects",
		Example: `  kubectl acp app detach web -n shop`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, namespace, err := a.dynamic()
			if err != nil {
				return err
			}
			annotations := map[string]any{}
			for _, key := range templateapp.ChartAnnotations {
				annotations[key] = nil
			}
			patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": annotations}})
			if _, err := client.Resource(application.Resource).Namespace(namespace).Patch(cmd.Context(), args[0], types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
				return fmt.Errorf("detaching application %s/%s: %w", namespace, args[0], err)
			}
			_, err = fmt.Fprintf(a.out, "application %s/%s detached: archon forgets its helm release and leaves its objects\n", namespace, args[0])
			return err
		},
	}
	return cmd
}

// syncedCondition is the Synced condition of an application, if any.
func syncedCondition(app *unstructured.Unstructured) (*metav1.Condition, []metav1.Condition) {
	conditions := application.ConditionsOf(app)
	return meta.FindStatusCondition(conditions, templateapp.ConditionSynced), conditions
}

// settle is how long awaitSynced waits for a condition to change before
// it takes the conditions as archon's answer: a change that fails as the
// previous one did, or changes nothing archon acts on, leaves them as
// they were.
const settle = 5 * time.Second

// awaitSynced waits up to timeout for the application's Synced condition
// to change from before (nil for a new application), or for settle to
// pass, and says how it ended; a false condition is an error.
func (a *appOptions) awaitSynced(ctx context.Context, client dynamic.Interface, namespace, name string, before *metav1.Condition, timeout time.Duration) error {
	if timeout <= 0 {
		_, err := fmt.Fprintf(a.out, "follow it with: kubectl get application %s -n %s -o jsonpath='{.status.conditions}'\n", name, namespace)
		return err
	}
	var outcome error
	start := time.Now()
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		app, err := client.Resource(application.Resource).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		synced, conditions := syncedCondition(app)
		unchanged := before != nil && synced != nil && synced.Status == before.Status && synced.Reason == before.Reason && synced.Message == before.Message
		if synced == nil || (unchanged && time.Since(start) < settle) {
			return false, nil // archon has not acted on the change yet
		}
		for _, stage := range templateapp.Conditions {
			c := meta.FindStatusCondition(conditions, stage)
			if c != nil && c.Status == metav1.ConditionFalse {
				outcome = fmt.Errorf("%s=False, %s: %s", stage, c.Reason, c.Message)
				return true, nil
			}
		}
		if synced.Status == metav1.ConditionTrue {
			fmt.Fprintf(a.out, "Synced: %s\n", synced.Message)
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for application %s/%s to be synced: %w", namespace, name, err)
	}
	return outcome
}
