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

// Package applicationexport serves applicationexports: a create-only
// resource whose response carries an application of the namespace rendered
// as an artifact. It reads the application's components as the caller, so
// an export shows nothing the caller could not read.
package applicationexport

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/rest"
	restclient "k8s.io/client-go/rest"

	"github.com/acp-archon/archon/pkg/apis/app"
	"github.com/acp-archon/archon/pkg/apis/app/validation"
	"github.com/acp-archon/archon/pkg/application"
	"github.com/acp-archon/archon/pkg/export"
	"github.com/acp-archon/archon/pkg/helmrepo"
	"github.com/acp-archon/archon/pkg/registry/app/operation"
)

// ChartPublisher puts a chart into a Local repository as the caller; a
// dry run checks that it could.
type ChartPublisher interface {
	Publish(ctx context.Context, namespace, name string, archive []byte, dryRun bool) error
}

// REST renders exports.
type REST struct {
	operation.Storage
	kubeConfig *restclient.Config
	reader     *application.Reader
	charts     ChartPublisher
}

var (
	_ rest.Creater              = &REST{}
	_ rest.Scoper               = &REST{}
	_ rest.SingularNameProvider = &REST{}
	_ rest.TableConvertor       = &REST{}
)

// NewREST returns the storage of exports, which read applications with
// reader through the cluster kubeConfig reaches, and publish charts with
// charts.
func NewREST(kubeConfig *restclient.Config, reader *application.Reader, charts ChartPublisher) *REST {
	return &REST{Storage: operation.Storage{Singular: "applicationexport", NewObject: func() runtime.Object { return &app.ApplicationExport{} },
		Columns: columns, Cells: cells}, kubeConfig: kubeConfig, reader: reader, charts: charts}
}

// Create renders the export; nothing is stored.
func (r *REST) Create(ctx context.Context, obj runtime.Object, createValidation rest.ValidateObjectFunc, options *metav1.CreateOptions) (runtime.Object, error) {
	exp := obj.(*app.ApplicationExport)
	if err := operation.Admit(ctx, exp, app.Kind("ApplicationExport"), func() field.ErrorList { return validation.ValidateApplicationExport(exp) },
		createValidation); err != nil {
		return nil, err
	}
	client, err := operation.CallerClient(ctx, r.kubeConfig, app.Resource("applicationexports"), exp.Name)
	if err != nil {
		return nil, err
	}
	source, err := client.Resource(application.Resource).Namespace(exp.Namespace).Get(ctx, exp.Spec.Application, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	var objects []*unstructured.Unstructured
	if exp.Spec.Revision != nil {
		objects, err = application.Revision(ctx, client, exp.Namespace, exp.Spec.Application, *exp.Spec.Revision)
	} else {
		objects, err = r.reader.Components(ctx, client, source)
	}
	if err != nil {
		return nil, err
	}
	var artifact export.Artifact
	secrets := export.SecretData(exp.Spec.IncludeSecretData)
	switch exp.Spec.Format {
	case app.ExportYAML:
		artifact, err = export.YAML(exp.Spec.Application, objects, secrets)
	case app.ExportKustomize:
		artifact, err = export.Kustomize(exp.Spec.Application, objects, secrets)
	case app.ExportHelmChart:
		var chart export.Chart
		if chart, err = chartOf(exp, source); err != nil {
			return nil, err
		}
		// The chart installs the Application too, so that the release is
		// the application again.
		artifact, err = export.HelmChart(chart, append([]*unstructured.Unstructured{source}, objects...), secrets)
	}
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	if target := exp.Spec.Target; target != nil && target.ChartRepo != nil {
		namespace := target.ChartRepo.Namespace
		if namespace == "" {
			namespace = exp.Namespace
		}
		if err := r.charts.Publish(ctx, namespace, target.ChartRepo.Name, artifact.Data, len(options.DryRun) > 0); err != nil {
			return nil, err
		}
	}
	exp.CreationTimestamp = metav1.Now()
	exp.Status = app.ApplicationExportStatus{Artifact: artifact.Data, ContentType: artifact.ContentType, Files: artifact.Files}
	return exp, nil
}

// chartOf describes the chart of an export: what spec.chart says, the
// rest from the application's descriptor (version v<M>.<m>.<p>, or v0.1.0
// when it has none).
func chartOf(exp *app.ApplicationExport, source *unstructured.Unstructured) (export.Chart, error) {
	descriptorVersion, _, _ := unstructured.NestedString(source.Object, "spec", "descriptor", "version")
	descriptorDescription, _, _ := unstructured.NestedString(source.Object, "spec", "descriptor", "description")
	chart := export.Chart{Name: source.GetName(), AppVersion: descriptorVersion, Description: descriptorDescription}
	if spec := exp.Spec.Chart; spec != nil {
		chart.Readme, chart.Notes, chart.Icon = spec.Readme, spec.Notes, spec.Icon
		if spec.Name != "" {
			chart.Name = spec.Name
		}
		if spec.Description != "" {
			chart.Description = spec.Description
		}
		chart.Version = spec.Version
	}
	if chart.Version == "" {
		switch version := "v" + strings.TrimPrefix(descriptorVersion, "v"); {
		case descriptorVersion == "":
			chart.Version = "v0.1.0"
		case validation.IsChartVersion(version):
			chart.Version = version
		default:
			return export.Chart{}, apierrors.NewInvalid(app.Kind("ApplicationExport"), exp.Name, field.ErrorList{field.Required(field.NewPath("spec", "chart", "version"),
				fmt.Sprintf("the application's version %q is not %s; give the chart's", descriptorVersion, validation.ChartVersionPattern))})
		}
	}
	if errs := helmrepo.ValidateChartName(chart.Name); errs != nil {
		return export.Chart{}, apierrors.NewInvalid(app.Kind("ApplicationExport"), exp.Name, field.ErrorList{field.Invalid(field.NewPath("spec", "chart", "name"), chart.Name, errs.Error())})
	}
	return chart, nil
}
