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
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	appv1beta1 "github.com/acp-archon/archon/pkg/apis/app/v1beta1"
	archonclient "github.com/acp-archon/archon/pkg/generated/clientset/versioned"
)

// exportOptions are the flags of "kubectl acp export application".
type exportOptions struct {
	*options
	namespace, format, output string
	revision                  int64
	chart                     appv1beta1.ExportChart
	readmeFile, notesFile     string
	iconFile                  string
	toRepo                    string
	includeSecretData         bool
}

func newExportCommand(o *options) *cobra.Command {
	e := &exportOptions{options: o}
	cmd := &cobra.Command{
		Use:   "export application NAME --format HelmChart|YAML|Kustomize -o FILE",
		Short: "Write an application of a namespace as a Helm chart, simplified YAML or a Kustomize base",
		Example: `  # The shop application as YAML that applies into another namespace
  kubectl acp export application shop -n shop --format YAML -o shop.yaml

  # As a Helm chart, also published to the Local repository "team"
  kubectl acp export application shop -n shop --format HelmChart --chart-version v1.2.0 \
    --readme-file README.md --to-repo team -o shop-v1.2.0.tgz`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 2 || args[0] != "application" {
				return fmt.Errorf("usage: kubectl acp export application NAME --format HelmChart|YAML|Kustomize -o FILE")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error { return e.run(cmd, args[1]) },
	}
	flags := cmd.Flags()
	flags.StringVarP(&e.namespace, "namespace", "n", "", "The application's namespace (default: the kubeconfig context's).")
	flags.StringVar(&e.format, "format", "", "HelmChart, YAML or Kustomize.")
	flags.StringVarP(&e.output, "output", "o", "", "File the artifact is written to; - for standard output.")
	flags.Int64Var(&e.revision, "revision", 0, "Export the ApplicationHistory of this revision instead of the live objects.")
	flags.StringVar(&e.chart.Name, "chart-name", "", "Name of the chart (default: the application's).")
	flags.StringVar(&e.chart.Version, "chart-version", "", "Version of the chart, v<major>.<minor>.<patch> (default: the application's).")
	flags.StringVar(&e.chart.Description, "chart-description", "", "Description of the chart.")
	flags.StringVar(&e.readmeFile, "readme-file", "", "File whose text becomes the chart's README.md.")
	flags.StringVar(&e.notesFile, "notes-file", "", "File whose text becomes the chart's templates/NOTES.txt.")
	flags.StringVar(&e.iconFile, "icon-file", "", "PNG, JPG or GIF image of at most 500 KB, the chart's icon.")
	flags.StringVar(&e.toRepo, "to-repo", "", "Also publish the chart to this Local repository: NAME in the application's namespace, or NAMESPACE/NAME.")
	flags.BoolVar(&e.includeSecretData, "include-secret-data", false,
		"Keep the values of the application's Secrets (left out by default: a chart takes them as values secrets.<secret>.<key>); not with --to-repo.")
	_ = cmd.MarkFlagRequired("format")
	_ = cmd.MarkFlagRequired("output")
	return cmd
}

func (e *exportOptions) run(cmd *cobra.Command, application string) error {
	if e.format != string(appv1beta1.ExportHelmChart) {
		for _, flag := range []string{"to-repo", "chart-name", "chart-version", "chart-description", "readme-file", "notes-file", "icon-file"} {
			if cmd.Flags().Changed(flag) {
				return fmt.Errorf("--%s is for charts: use it with --format HelmChart", flag)
			}
		}
	}
	config, err := e.restConfig()
	if err != nil {
		return err
	}
	namespace, err := e.namespaceOrDefault(e.namespace)
	if err != nil {
		return err
	}
	spec := appv1beta1.ApplicationExportSpec{Application: application, Format: appv1beta1.ApplicationExportFormat(e.format),
		IncludeSecretData: e.includeSecretData}
	if e.revision != 0 {
		spec.Revision = &e.revision
	}
	if spec.Format == appv1beta1.ExportHelmChart {
		chart := e.chart
		for _, file := range []struct {
			path string
			into *string
		}{{e.readmeFile, &chart.Readme}, {e.notesFile, &chart.Notes}} {
			if file.path != "" {
				data, err := os.ReadFile(file.path)
				if err != nil {
					return err
				}
				*file.into = string(data)
			}
		}
		if e.iconFile != "" {
			if chart.Icon, err = os.ReadFile(e.iconFile); err != nil {
				return err
			}
		}
		spec.Chart = &chart
	}
	if e.toRepo != "" {
		repo := appv1beta1.ChartRepoReference{Name: e.toRepo}
		if ns, name, found := strings.Cut(e.toRepo, "/"); found {
			repo = appv1beta1.ChartRepoReference{Namespace: ns, Name: name}
		}
		spec.Target = &appv1beta1.ExportTarget{ChartRepo: &repo}
	}

	client, err := archonclient.NewForConfig(config)
	if err != nil {
		return err
	}
	exp, err := client.AppV1beta1().ApplicationExports(namespace).Create(cmd.Context(), &appv1beta1.ApplicationExport{
		ObjectMeta: metav1.ObjectMeta{GenerateName: application + "-"},
		Spec:       spec,
	}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("exporting application %s/%s: %w", namespace, application, err)
	}
	if e.output == "-" {
		_, err = e.out.Write(exp.Status.Artifact)
		return err
	}
	if err := os.WriteFile(e.output, exp.Status.Artifact, 0o644); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(cmd.ErrOrStderr(), "Wrote %s (%s, %d bytes): %s\n", e.output, exp.Status.ContentType, len(exp.Status.Artifact), strings.Join(exp.Status.Files, ", ")); err != nil {
		return err
	}
	return e.published(cmd, exp)
}

// published says where the chart went besides the file.
func (e *exportOptions) published(cmd *cobra.Command, exp *appv1beta1.ApplicationExport) error {
	target := exp.Spec.Target
	if target == nil || target.ChartRepo == nil {
		return nil
	}
	namespace := target.ChartRepo.Namespace
	if namespace == "" {
		namespace = exp.Namespace
	}
	chart := exp.Spec.Application
	if exp.Spec.Chart != nil && exp.Spec.Chart.Name != "" {
		chart = exp.Spec.Chart.Name
	}
	_, err := fmt.Fprintf(cmd.ErrOrStderr(), "Published chart %s to the Local repository %s/%s (kubectl get chart %s.%s -n %s)\n",
		chart, namespace, target.ChartRepo.Name, chart, target.ChartRepo.Name, namespace)
	return err
}
