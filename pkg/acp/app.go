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
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/yaml"

	appv1beta1 "github.com/acp-archon/archon/pkg/apis/app/v1beta1"
	"github.com/acp-archon/archon/pkg/application"
	archonclient "github.com/acp-archon/archon/pkg/generated/clientset/versioned"
)

// appOptions are the flags of "kubectl acp app".
type appOptions struct {
	*options
	namespace, output string
}

func newAppCommand(o *options) *cobra.Command {
	a := &appOptions{options: o}
	cmd := &cobra.Command{
		Use:   "app",
		Short: "Look at applications and record their revisions, as your Kubernetes user",
	}
	cmd.PersistentFlags().StringVarP(&a.namespace, "namespace", "n", "", "The application's namespace (default: the kubeconfig context's).")
	cmd.AddCommand(a.statusCommand(), a.historyCommand(), a.snapshotCommand(), a.scaleCommand("stop"), a.scaleCommand("start"), a.rollbackCommand(),
		a.membershipCommand("import"), a.membershipCommand("remove"), a.createTemplateCommand(), a.upgradeTemplateCommand(), a.detachCommand())
	return cmd
}

func (a *appOptions) statusCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status NAME",
		Short: "Show an application's phase and its components",
		Example: `  kubectl acp app status shop -n shop
  kubectl acp app status shop -n shop -o yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, namespace, err := a.dynamic()
			if err != nil {
				return err
			}
			app, err := client.Resource(application.Resource).Namespace(namespace).Get(cmd.Context(), args[0], metav1.GetOptions{})
			if err != nil {
				return fmt.Errorf("reading application %s/%s: %w", namespace, args[0], err)
			}
			raw, _, _ := unstructured.NestedMap(app.Object, "status")
			if a.output == "yaml" {
				return a.printYAML(raw)
			}
			var status application.Status
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &status); err != nil {
				return fmt.Errorf("application %s/%s has a status archon did not write: %w", namespace, args[0], err)
			}
			w := tabwriter.NewWriter(a.out, 0, 4, 3, ' ', 0)
			fmt.Fprintf(w, "NAME\tPHASE\tREADY\n%s\t%s\t%s\n\n", app.GetName(), orNone(status.Phase), orNone(status.ComponentsReady))
			fmt.Fprintln(w, "KIND\tNAME\tREADY\tSTATE\tMESSAGE")
			for _, c := range status.Components {
				fmt.Fprintf(w, "%s\t%s\t%v\t%s\t%s\n", c.Kind, c.Name, c.Ready, c.State, c.Message)
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVarP(&a.output, "output", "o", "", "yaml for the whole status.")
	return cmd
}

func (a *appOptions) historyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "history NAME",
		Short: "List an application's recorded revisions (the newest 6)",
		Example: `  kubectl acp app history shop -n shop
  kubectl acp app history shop -n shop -o yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, namespace, err := a.dynamic()
			if err != nil {
				return err
			}
			histories, err := application.Histories(cmd.Context(), client, namespace, args[0])
			if err != nil {
				return fmt.Errorf("reading the histories of application %s/%s: %w", namespace, args[0], err)
			}
			if a.output == "yaml" {
				var items []any
				for _, h := range histories {
					items = append(items, h.Object)
				}
				return a.printYAML(map[string]any{"apiVersion": "v1", "kind": "List", "items": items})
			}
			w := tabwriter.NewWriter(a.out, 0, 4, 3, ' ', 0)
			fmt.Fprintln(w, "REVISION\tUSER\tCHANGE-CAUSE\tRECORDED\tCHANGES")
			for i := range histories {
				spec, _, _ := unstructured.NestedMap(histories[i].Object, "spec")
				var diffs application.ResourceDiffs
				if raw, ok := spec["resourceDiffs"].(map[string]any); ok {
					_ = runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &diffs)
				}
				fmt.Fprintf(w, "%d\t%v\t%v\t%v\t%s\n", application.RevisionOf(&histories[i]), spec["user"], orNone(fmt.Sprint(spec["changeCause"])),
					spec["creationTimestamp"], changes(diffs))
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVarP(&a.output, "output", "o", "", "yaml for the whole histories, with the recorded objects.")
	return cmd
}

func (a *appOptions) snapshotCommand() *cobra.Command {
	var changeCause string
	var dryRun bool
	cmd := &cobra.Command{
		Use:     "snapshot NAME [--change-cause TEXT]",
		Short:   "Record an application and its components as its next revision",
		Example: `  kubectl acp app snapshot shop -n shop --change-cause "raise the cache size"`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, namespace, err := a.archon()
			if err != nil {
				return err
			}
			options := createOptions(dryRun)
			snapshot, err := client.AppV1beta1().ApplicationSnapshots(namespace).Create(cmd.Context(), &appv1beta1.ApplicationSnapshot{
				ObjectMeta: metav1.ObjectMeta{GenerateName: args[0] + "-"},
				Spec:       appv1beta1.ApplicationSnapshotSpec{Application: args[0], ChangeCause: changeCause},
			}, options)
			if err != nil {
				return fmt.Errorf("recording application %s/%s: %w", namespace, args[0], err)
			}
			verb := "recorded as"
			if dryRun {
				verb = "would be recorded as"
			}
			d := snapshot.Status.ResourceDiffs
			diffs := application.ResourceDiffs{Create: references(d.Create), Update: references(d.Update), Delete: references(d.Delete)}
			_, err = fmt.Fprintf(a.out, "application %s/%s %s revision %d (applicationhistory %s): %s\n",
				namespace, args[0], verb, snapshot.Status.Revision, snapshot.Status.History, changes(diffs))
			return err
		},
	}
	cmd.Flags().StringVar(&changeCause, "change-cause", "", "Why the application changed, kept with the revision.")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "Only say which revision it would be.")
	return cmd
}

func references(refs []appv1beta1.ResourceReference) []application.ResourceReference {
	out := make([]application.ResourceReference, 0, len(refs))
	for _, ref := range refs {
		out = append(out, application.ResourceReference{Kind: ref.Kind, Name: ref.Name})
	}
	return out
}

// changes prints resource differences as +created ~updated -deleted.
func changes(d application.ResourceDiffs) string {
	var out []string
	for _, part := range []struct {
		sign string
		refs []application.ResourceReference
	}{{"+", d.Create}, {"~", d.Update}, {"-", d.Delete}} {
		for _, ref := range part.refs {
			out = append(out, part.sign+ref.Kind+"/"+ref.Name)
		}
	}
	if len(out) == 0 {
		return "no changes"
	}
	return strings.Join(out, " ")
}

func orNone(s string) string {
	if s == "" || s == "<nil>" {
		return "<none>"
	}
	return s
}

// archon returns an archon client and the namespace of the commands.
func (a *appOptions) archon() (archonclient.Interface, string, error) {
	config, namespace, err := a.target()
	if err != nil {
		return nil, "", err
	}
	client, err := archonclient.NewForConfig(config)
	return client, namespace, err
}

// dynamic returns a dynamic client and the namespace of the commands.
func (a *appOptions) dynamic() (dynamic.Interface, string, error) {
	config, namespace, err := a.target()
	if err != nil {
		return nil, "", err
	}
	client, err := dynamic.NewForConfig(config)
	return client, namespace, err
}

// target is the kubeconfig's client configuration and the namespace of
// the commands.
func (a *appOptions) target() (*rest.Config, string, error) {
	config, err := a.restConfig()
	if err != nil {
		return nil, "", err
	}
	namespace, err := a.namespaceOrDefault(a.namespace)
	return config, namespace, err
}

// createOptions are the options of an operation's create, a dry run or
// not.
func createOptions(dryRun bool) metav1.CreateOptions {
	if dryRun {
		return metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	}
	return metav1.CreateOptions{}
}

func (a *appOptions) printYAML(v any) error {
	data, err := yaml.Marshal(v)
	if err != nil {
		return err
	}
	_, err = a.out.Write(data)
	return err
}

// scaleCommand is "kubectl acp app stop" or "start".
func (a *appOptions) scaleCommand(verb string) *cobra.Command {
	var changeCause string
	var dryRun bool
	short := map[string]string{
		"stop":  "Scale an application's Deployments and StatefulSets to 0, remembering their replicas",
		"start": "Give a stopped application's Deployments and StatefulSets their replicas back",
	}[verb]
	cmd := &cobra.Command{
		Use:     verb + " NAME",
		Short:   short,
		Example: fmt.Sprintf("  kubectl acp app %s shop -n shop", verb),
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, namespace, err := a.archon()
			if err != nil {
				return err
			}
			options := createOptions(dryRun)
			meta := metav1.ObjectMeta{GenerateName: args[0] + "-"}
			spec := appv1beta1.ApplicationOperationSpec{Application: args[0], ChangeCause: changeCause}
			var status appv1beta1.ApplicationScaleStatus
			if verb == "stop" {
				stop, err := client.AppV1beta1().ApplicationStops(namespace).Create(cmd.Context(), &appv1beta1.ApplicationStop{ObjectMeta: meta, Spec: spec}, options)
				if err != nil {
					return fmt.Errorf("stopping application %s/%s: %w", namespace, args[0], err)
				}
				status = stop.Status
			} else {
				start, err := client.AppV1beta1().ApplicationStarts(namespace).Create(cmd.Context(), &appv1beta1.ApplicationStart{ObjectMeta: meta, Spec: spec}, options)
				if err != nil {
					return fmt.Errorf("starting application %s/%s: %w", namespace, args[0], err)
				}
				status = start.Status
			}
			w := tabwriter.NewWriter(a.out, 0, 4, 3, ' ', 0)
			fmt.Fprintln(w, "KIND\tNAME\tREPLICAS")
			for _, workload := range status.Workloads {
				fmt.Fprintf(w, "%s\t%s\t%d -> %d\n", workload.Kind, workload.Name, workload.From, workload.To)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			if dryRun {
				_, err = fmt.Fprintf(a.out, "(dry run: nothing scaled, no revision recorded)\n")
				return err
			}
			_, err = fmt.Fprintf(a.out, "application %s/%s %s: revision %d (applicationhistory %s)\n", namespace, args[0],
				map[string]string{"stop": "stopped", "start": "started"}[verb], status.Revision, status.History)
			return err
		},
	}
	cmd.Flags().StringVar(&changeCause, "change-cause", "", "Why, kept with the revision recorded.")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "Only check that it could: nothing is scaled.")
	return cmd
}

func (a *appOptions) rollbackCommand() *cobra.Command {
	var revision int64
	var changeCause string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "rollback NAME --to-revision N",
		Short: "Bring an application and its components back to a recorded revision",
		Example: `  kubectl acp app history shop -n shop
  kubectl acp app rollback shop -n shop --to-revision 2`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, namespace, err := a.archon()
			if err != nil {
				return err
			}
			options := createOptions(dryRun)
			rollback, err := client.AppV1beta1().ApplicationRollbacks(namespace).Create(cmd.Context(), &appv1beta1.ApplicationRollback{
				ObjectMeta: metav1.ObjectMeta{GenerateName: args[0] + "-"},
				Spec:       appv1beta1.ApplicationRollbackSpec{Application: args[0], Revision: revision, ChangeCause: changeCause},
			}, options)
			if err != nil {
				return fmt.Errorf("rolling application %s/%s back: %w", namespace, args[0], err)
			}
			status := rollback.Status
			diffs := application.ResourceDiffs{Update: references(status.Applied), Delete: references(status.Deleted)}
			if dryRun {
				_, err = fmt.Fprintf(a.out, "application %s/%s can go back to revision %d: %s (dry run: nothing written)\n", namespace, args[0], revision, changes(diffs))
				return err
			}
			_, err = fmt.Fprintf(a.out, "application %s/%s back to revision %d as revision %d (applicationhistory %s): %s\n",
				namespace, args[0], revision, status.Revision, status.History, changes(diffs))
			return err
		},
	}
	cmd.Flags().Int64Var(&revision, "to-revision", 0, "The recorded revision to go back to (kubectl acp app history lists them).")
	cmd.Flags().StringVar(&changeCause, "change-cause", "", "Why, kept with the revision recorded (default: rollback to revision N).")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "Only try every write: nothing changes.")
	_ = cmd.MarkFlagRequired("to-revision")
	return cmd
}

// membershipCommand is "kubectl acp app import" or "remove".
func (a *appOptions) membershipCommand(verb string) *cobra.Command {
	var changeCause string
	var dryRun bool
	short := map[string]string{
		"import": "Make resources of the application's namespace its components (none named: its components, owner references renewed)",
		"remove": "Dissociate components from the application without deleting them",
	}[verb]
	cmd := &cobra.Command{
		Use:   verb + " NAME TYPE/NAME...",
		Short: short,
		Example: map[string]string{
			"import": "  kubectl acp app import shop -n shop deployment/cart service/cart ingress/cart",
			"remove": "  kubectl acp app remove shop -n shop configmap/old-settings",
		}[verb],
		Args: map[string]cobra.PositionalArgs{"import": cobra.MinimumNArgs(1), "remove": cobra.MinimumNArgs(2)}[verb],
		RunE: func(cmd *cobra.Command, args []string) error {
			client, namespace, err := a.archon()
			if err != nil {
				return err
			}
			resources, err := a.componentReferences(args[1:])
			if err != nil {
				return err
			}
			options := createOptions(dryRun)
			meta := metav1.ObjectMeta{GenerateName: args[0] + "-"}
			spec := appv1beta1.ApplicationMembershipSpec{Application: args[0], Resources: resources, ChangeCause: changeCause}
			var status appv1beta1.ApplicationMembershipStatus
			did := map[string]string{"import": "imported into", "remove": "removed from"}[verb]
			if verb == "import" {
				result, err := client.AppV1beta1().ApplicationImports(namespace).Create(cmd.Context(), &appv1beta1.ApplicationImport{ObjectMeta: meta, Spec: spec}, options)
				if err != nil {
					return fmt.Errorf("importing into application %s/%s: %w", namespace, args[0], err)
				}
				status = result.Status
			} else {
				result, err := client.AppV1beta1().ApplicationRemovals(namespace).Create(cmd.Context(), &appv1beta1.ApplicationRemoval{ObjectMeta: meta, Spec: spec}, options)
				if err != nil {
					return fmt.Errorf("removing from application %s/%s: %w", namespace, args[0], err)
				}
				status = result.Status
			}
			w := tabwriter.NewWriter(a.out, 0, 4, 3, ' ', 0)
			fmt.Fprintln(w, "KIND\tNAME")
			for _, ref := range status.Resources {
				fmt.Fprintf(w, "%s\t%s\n", ref.Kind, ref.Name)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			if dryRun {
				_, err = fmt.Fprintf(a.out, "(dry run: nothing %s application %s/%s, no revision recorded)\n", did, namespace, args[0])
				return err
			}
			_, err = fmt.Fprintf(a.out, "%d resources %s application %s/%s: revision %d (applicationhistory %s)\n",
				len(status.Resources), did, namespace, args[0], status.Revision, status.History)
			return err
		},
	}
	cmd.Flags().StringVar(&changeCause, "change-cause", "", "Why, kept with the revision recorded.")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "Only try every write: nothing changes.")
	return cmd
}

// componentReferences turns TYPE/NAME arguments (deployment/web, svc/web,
// ingress.networking.k8s.io/web) into references by group and kind,
// through the cluster's discovery as kubectl does.
func (a *appOptions) componentReferences(args []string) ([]appv1beta1.ComponentReference, error) {
	if len(args) == 0 {
		return nil, nil
	}
	config, _, err := a.target()
	if err != nil {
		return nil, err
	}
	client, err := discovery.NewDiscoveryClientForConfig(config)
	if err != nil {
		return nil, err
	}
	cached := memory.NewMemCacheClient(client)
	mapper := restmapper.NewShortcutExpander(restmapper.NewDeferredDiscoveryRESTMapper(cached), cached, nil)
	refs := make([]appv1beta1.ComponentReference, 0, len(args))
	for _, arg := range args {
		resource, name, ok := strings.Cut(arg, "/")
		if !ok || resource == "" || name == "" {
			return nil, fmt.Errorf("%q: name resources as TYPE/NAME, such as deployment/web or service/web", arg)
		}
		gvr, gr := schema.ParseResourceArg(strings.ToLower(resource))
		var kind schema.GroupVersionKind
		err := errors.New("no version")
		if gvr != nil {
			kind, err = mapper.KindFor(*gvr)
		}
		if err != nil {
			kind, err = mapper.KindFor(gr.WithVersion(""))
		}
		if err != nil {
			return nil, fmt.Errorf("%q: the cluster serves no resource type %s (kubectl api-resources lists them)", arg, resource)
		}
		refs = append(refs, appv1beta1.ComponentReference{Group: kind.Group, Kind: kind.Kind, Name: name})
	}
	return refs, nil
}
