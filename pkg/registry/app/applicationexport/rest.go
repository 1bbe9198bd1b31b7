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
	"errors"
	"fmt"
	"io"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/storage/names"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	restclient "k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/acp-archon/archon/pkg/apis/app"
	"github.com/acp-archon/archon/pkg/apis/app/validation"
	"github.com/acp-archon/archon/pkg/export"
	"github.com/acp-archon/archon/pkg/helmrepo"
	"github.com/acp-archon/archon/pkg/registry/callers"
)

var (
	applications         = schema.GroupVersionResource{Group: "app.k8s.io", Version: "v1beta1", Resource: "applications"}
	applicationHistories = schema.GroupVersionResource{Group: "app.k8s.io", Version: "v1beta1", Resource: "applicationhistories"}
)

// ChartPublisher puts a chart into a Local repository as the caller; a
// dry run checks that it could.
type ChartPublisher interface {
	Publish(ctx context.Context, namespace, name string, archive []byte, dryRun bool) error
}

// REST renders exports.
type REST struct {
	kubeConfig *restclient.Config
	mapper     meta.ResettableRESTMapper
	charts     ChartPublisher
}

var (
	_ rest.Creater              = &REST{}
	_ rest.Scoper               = &REST{}
	_ rest.SingularNameProvider = &REST{}
	_ rest.TableConvertor       = &REST{}
)

// NewREST returns the storage of exports, which read applications through
// the cluster kubeConfig reaches and publish charts with charts.
func NewREST(kubeConfig *restclient.Config, charts ChartPublisher) (*REST, error) {
	client, err := discovery.NewDiscoveryClientForConfig(kubeConfig)
	if err != nil {
		return nil, err
	}
	return &REST{kubeConfig: kubeConfig, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(client)), charts: charts}, nil
}

func (r *REST) New() runtime.Object     { return &app.ApplicationExport{} }
func (r *REST) Destroy()                {}
func (r *REST) NamespaceScoped() bool   { return true }
func (r *REST) GetSingularName() string { return "applicationexport" }

// Create renders the export; nothing is stored.
func (r *REST) Create(ctx context.Context, obj runtime.Object, createValidation rest.ValidateObjectFunc, options *metav1.CreateOptions) (runtime.Object, error) {
	exp := obj.(*app.ApplicationExport)
	exp.Namespace = genericapirequest.NamespaceValue(ctx)
	if exp.Name == "" && exp.GenerateName != "" {
		exp.Name = names.SimpleNameGenerator.GenerateName(exp.GenerateName)
	}
	if errs := validation.ValidateApplicationExport(exp); len(errs) > 0 {
		return nil, apierrors.NewInvalid(app.Kind("ApplicationExport"), exp.Name, errs)
	}
	if createValidation != nil {
		if err := createValidation(ctx, exp); err != nil {
			return nil, err
		}
	}
	config, err := callers.Config(ctx, r.kubeConfig)
	if err != nil {
		return nil, apierrors.NewForbidden(app.Resource("applicationexports"), exp.Name, err)
	}
	client, err := dynamic.NewForConfig(config)
	if err != nil {
		return nil, err
	}
	application, err := client.Resource(applications).Namespace(exp.Namespace).Get(ctx, exp.Spec.Application, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	objects, err := r.components(ctx, client, exp, application)
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
		if chart, err = chartOf(exp, application); err != nil {
			return nil, err
		}
		// The chart installs the Application too, so that the release is
		// the application again.
		artifact, err = export.HelmChart(chart, append([]*unstructured.Unstructured{application}, objects...), secrets)
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

// components are the application's objects: live, or as an
// ApplicationHistory recorded them.
func (r *REST) components(ctx context.Context, client dynamic.Interface, exp *app.ApplicationExport, application *unstructured.Unstructured) ([]*unstructured.Unstructured, error) {
	namespace, name := exp.Namespace, exp.Spec.Application
	if exp.Spec.Revision != nil {
		return r.revision(ctx, client, namespace, name, *exp.Spec.Revision)
	}

	var spec struct {
		Selector       *metav1.LabelSelector `json:"selector"`
		ComponentKinds []metav1.GroupKind    `json:"componentKinds"`
	}
	if raw, ok := application.Object["spec"].(map[string]any); ok {
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &spec); err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("application %s: %v", name, err))
		}
	}
	selector, err := metav1.LabelSelectorAsSelector(spec.Selector)
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("application %s: spec.selector: %v", name, err))
	}
	if spec.Selector == nil {
		selector = labels.Nothing() // an application without a selector has no components
	}
	var objects []*unstructured.Unstructured
	for _, kind := range spec.ComponentKinds {
		mapping, err := r.mapping(schema.GroupKind{Group: kind.Group, Kind: kind.Kind})
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("application %s: component kind %s is not served by the cluster", name, kind.Kind))
		}
		if mapping.Scope.Name() != meta.RESTScopeNameNamespace {
			continue // an application holds objects of its namespace
		}
		list, err := client.Resource(mapping.Resource).Namespace(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector.String()})
		if err != nil {
			return nil, err
		}
		for i := range list.Items {
			objects = append(objects, &list.Items[i])
		}
	}
	return objects, nil
}

// chartOf describes the chart of an export: what spec.chart says, the
// rest from the application's descriptor (version v<M>.<m>.<p>, or v0.1.0
// when it has none).
func chartOf(exp *app.ApplicationExport, application *unstructured.Unstructured) (export.Chart, error) {
	descriptorVersion, _, _ := unstructured.NestedString(application.Object, "spec", "descriptor", "version")
	descriptorDescription, _, _ := unstructured.NestedString(application.Object, "spec", "descriptor", "description")
	chart := export.Chart{Name: application.GetName(), AppVersion: descriptorVersion, Description: descriptorDescription}
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

// mapping finds the resource of a kind, asking discovery again once for a
// kind it did not know, such as one of a CRD added since.
func (r *REST) mapping(kind schema.GroupKind) (*meta.RESTMapping, error) {
	mapping, err := r.mapper.RESTMapping(kind)
	if meta.IsNoMatchError(err) {
		r.mapper.Reset()
		mapping, err = r.mapper.RESTMapping(kind)
	}
	return mapping, err
}

// revision reads the components an ApplicationHistory recorded.
func (r *REST) revision(ctx context.Context, client dynamic.Interface, namespace, name string, revision int64) ([]*unstructured.Unstructured, error) {
	histories, err := client.Resource(applicationHistories).Namespace(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	for _, history := range histories.Items {
		application, _, _ := unstructured.NestedString(history.Object, "spec", "applicationName")
		number, _, _ := unstructured.NestedInt64(history.Object, "spec", "revision")
		if application != name || number != revision {
			continue
		}
		stream, _, _ := unstructured.NestedString(history.Object, "spec", "yaml")
		return decodeStream(stream, history.GetName())
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Group: applicationHistories.Group, Resource: applicationHistories.Resource},
		fmt.Sprintf("%s revision %d", name, revision))
}

func decodeStream(stream, history string) ([]*unstructured.Unstructured, error) {
	decoder := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(stream), 4096)
	var objects []*unstructured.Unstructured
	for {
		obj := &unstructured.Unstructured{}
		if err := decoder.Decode(&obj.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return objects, nil
			}
			return nil, apierrors.NewBadRequest(fmt.Sprintf("application history %s: spec.yaml: %v", history, err))
		}
		if len(obj.Object) == 0 {
			continue
		}
		// A List is its items: each is exported as itself, Secrets
		// without their values.
		if obj.IsList() {
			if err := obj.EachListItem(func(item runtime.Object) error {
				objects = append(objects, item.(*unstructured.Unstructured))
				return nil
			}); err != nil {
				return nil, apierrors.NewBadRequest(fmt.Sprintf("application history %s: spec.yaml: %v", history, err))
			}
			continue
		}
		objects = append(objects, obj)
	}
}
