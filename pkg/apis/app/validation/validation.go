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

// Package validation holds the rules of app.alauda.io objects, reported with
// the field path of every offending value.
package validation

import (
	"net/http"
	"net/url"
	"regexp"

	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/acp-archon/archon/pkg/apis/app"
)

var (
	chartRepoTypes  = sets.New(app.ChartRepoTypeChart, app.ChartRepoTypeOCI, app.ChartRepoTypeLocal)
	chartRepoPhases = sets.New(app.ChartRepoPending, app.ChartRepoSynced, app.ChartRepoFailed)
	exportFormats   = sets.New(app.ExportHelmChart, app.ExportYAML, app.ExportKustomize)
	// chartVersion is the form exported charts are versioned in.
	chartVersion = regexp.MustCompile(`^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$`)
	// iconTypes are what an exported chart's icon may be.
	iconTypes = sets.New("image/png", "image/jpeg", "image/gif")
)

// MaxIconBytes bounds an exported chart's icon.
const MaxIconBytes = 500 * 1024

// ChartVersionPattern says what a chart version of an export looks like.
const ChartVersionPattern = "v<major>.<minor>.<patch>, as v1.2.0"

// IsChartVersion says whether version is of the form exported charts use.
func IsChartVersion(version string) bool { return chartVersion.MatchString(version) }

// ValidateChartRepo checks a chart repository on create. Its name is a
// DNS-1123 label: it names charts (<chart>.<repo>) and URL paths.
func ValidateChartRepo(repo *app.ChartRepo) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMeta(&repo.ObjectMeta, true, apimachineryvalidation.NameIsDNSLabel, field.NewPath("metadata"))
	return append(allErrs, validateChartRepoSpec(&repo.Spec, field.NewPath("spec"))...)
}

// ValidateChartRepoUpdate checks a change: the type and URL are fixed.
func ValidateChartRepoUpdate(repo, old *app.ChartRepo) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(&repo.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	allErrs = append(allErrs, validateChartRepoSpec(&repo.Spec, field.NewPath("spec"))...)
	allErrs = append(allErrs, apimachineryvalidation.ValidateImmutableField(repo.Spec.Type, old.Spec.Type, field.NewPath("spec", "type"))...)
	return append(allErrs, apimachineryvalidation.ValidateImmutableField(repo.Spec.URL, old.Spec.URL, field.NewPath("spec", "url"))...)
}

// ValidateChartRepoStatusUpdate checks a change of the status.
func ValidateChartRepoStatusUpdate(repo, old *app.ChartRepo) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(&repo.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	path := field.NewPath("status")
	if !chartRepoPhases.Has(repo.Status.Phase) {
		allErrs = append(allErrs, field.NotSupported(path.Child("phase"), repo.Status.Phase, sets.List(chartRepoPhases)))
	}
	if repo.Status.Charts < 0 {
		allErrs = append(allErrs, field.Invalid(path.Child("charts"), repo.Status.Charts, "must not be negative"))
	}
	return allErrs
}

func validateChartRepoSpec(spec *app.ChartRepoSpec, path *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	urlPath := path.Child("url")
	switch spec.Type {
	case app.ChartRepoTypeChart:
		allErrs = append(allErrs, validateURL(spec.URL, urlPath, "http", "https")...)
	case app.ChartRepoTypeOCI:
		allErrs = append(allErrs, validateURL(spec.URL, urlPath, "oci")...)
	case app.ChartRepoTypeLocal:
		if spec.URL != "" {
			allErrs = append(allErrs, field.Invalid(urlPath, spec.URL, "must be empty for a Local repository: archon serves it at /chartrepos/<namespace>/<name>/"))
		}
	case "":
		allErrs = append(allErrs, field.Required(path.Child("type"), "one of Chart, OCI or Local"))
	default:
		allErrs = append(allErrs, field.NotSupported(path.Child("type"), spec.Type, sets.List(chartRepoTypes)))
	}
	if spec.Secret != nil {
		secretPath := path.Child("secret")
		if spec.Secret.Name == "" {
			allErrs = append(allErrs, field.Required(secretPath.Child("name"), "the secret holding the repository's credentials"))
		}
		for _, msg := range validation.IsDNS1123Subdomain(spec.Secret.Name) {
			if spec.Secret.Name != "" {
				allErrs = append(allErrs, field.Invalid(secretPath.Child("name"), spec.Secret.Name, msg))
			}
		}
		if spec.Secret.Namespace != "" {
			for _, msg := range validation.IsDNS1123Label(spec.Secret.Namespace) {
				allErrs = append(allErrs, field.Invalid(secretPath.Child("namespace"), spec.Secret.Namespace, msg))
			}
		}
	}
	return allErrs
}

func validateURL(raw string, path *field.Path, schemes ...string) field.ErrorList {
	if raw == "" {
		return field.ErrorList{field.Required(path, "the repository's address")}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return field.ErrorList{field.Invalid(path, raw, err.Error())}
	}
	if !sets.New(schemes...).Has(u.Scheme) {
		return field.ErrorList{field.Invalid(path, raw, "the scheme must be one of "+joinSchemes(schemes))}
	}
	if u.Host == "" {
		return field.ErrorList{field.Invalid(path, raw, "must name a host")}
	}
	if u.User != nil {
		return field.ErrorList{field.Invalid(path, "<redacted>", "must not hold credentials: put them in the secret")}
	}
	return nil
}

func joinSchemes(schemes []string) string {
	out := ""
	for i, s := range schemes {
		if i > 0 {
			out += ", "
		}
		out += s + "://"
	}
	return out
}

// ValidateApplicationExport checks an export request.
func ValidateApplicationExport(export *app.ApplicationExport) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMeta(&export.ObjectMeta, true, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	spec, path := &export.Spec, field.NewPath("spec")
	allErrs = append(allErrs, validateApplicationName(spec.Application, path.Child("application"))...)
	if spec.Revision != nil && *spec.Revision < 1 {
		allErrs = append(allErrs, field.Invalid(path.Child("revision"), *spec.Revision, "revisions count from 1"))
	}
	switch {
	case spec.Format == "":
		allErrs = append(allErrs, field.Required(path.Child("format"), "one of HelmChart, YAML or Kustomize"))
	case !exportFormats.Has(spec.Format):
		allErrs = append(allErrs, field.NotSupported(path.Child("format"), spec.Format, sets.List(exportFormats)))
	}
	if spec.Chart != nil && spec.Format != app.ExportHelmChart {
		allErrs = append(allErrs, field.Forbidden(path.Child("chart"), "only for the HelmChart format"))
	}
	if spec.Target != nil && spec.Format != app.ExportHelmChart {
		allErrs = append(allErrs, field.Forbidden(path.Child("target"), "only charts go to a repository"))
	}
	if spec.Target != nil && spec.IncludeSecretData {
		allErrs = append(allErrs, field.Forbidden(path.Child("target"),
			"a chart holding Secret data is not published: the repository's readers could not read the Secrets; export without spec.includeSecretData, and the chart takes the data as values"))
	}
	if spec.Chart != nil {
		allErrs = append(allErrs, validateExportChart(spec.Chart, path.Child("chart"))...)
	}
	if spec.Target != nil {
		targetPath := path.Child("target", "chartRepo")
		switch repo := spec.Target.ChartRepo; {
		case repo == nil:
			allErrs = append(allErrs, field.Required(targetPath, "the Local repository the chart goes to"))
		case repo.Name == "":
			allErrs = append(allErrs, field.Required(targetPath.Child("name"), ""))
		default:
			for _, msg := range validation.IsDNS1123Label(repo.Name) {
				allErrs = append(allErrs, field.Invalid(targetPath.Child("name"), repo.Name, msg))
			}
			for _, msg := range validation.IsDNS1123Label(repo.Namespace) {
				if repo.Namespace != "" {
					allErrs = append(allErrs, field.Invalid(targetPath.Child("namespace"), repo.Namespace, msg))
				}
			}
		}
	}
	return allErrs
}

func validateExportChart(chart *app.ExportChart, path *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if chart.Name != "" {
		for _, msg := range validation.IsDNS1123Label(chart.Name) {
			allErrs = append(allErrs, field.Invalid(path.Child("name"), chart.Name, msg))
		}
	}
	if chart.Version != "" && !IsChartVersion(chart.Version) {
		allErrs = append(allErrs, field.Invalid(path.Child("version"), chart.Version, "must be "+ChartVersionPattern))
	}
	if len(chart.Icon) > MaxIconBytes {
		allErrs = append(allErrs, field.TooLong(path.Child("icon"), "", MaxIconBytes))
	} else if len(chart.Icon) > 0 {
		if detected := http.DetectContentType(chart.Icon); !iconTypes.Has(detected) {
			allErrs = append(allErrs, field.Invalid(path.Child("icon"), "<"+detected+" content>", "must be a JPG, PNG or GIF image"))
		}
	}
	return allErrs
}

// MaxChangeCauseLength bounds the change cause of a revision.
const MaxChangeCauseLength = 1024

// ValidateApplicationSnapshot checks a snapshot request.
func ValidateApplicationSnapshot(snapshot *app.ApplicationSnapshot) field.ErrorList {
	return ValidateApplicationOperation(&snapshot.ObjectMeta, &app.ApplicationOperationSpec{
		Application: snapshot.Spec.Application, ChangeCause: snapshot.Spec.ChangeCause,
	})
}

// validateApplicationName checks the name of an Application an operation
// acts on.
func validateApplicationName(name string, path *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(path, "the name of an Application in this namespace")}
	}
	var allErrs field.ErrorList
	for _, msg := range validation.IsDNS1123Subdomain(name) {
		allErrs = append(allErrs, field.Invalid(path, name, msg))
	}
	return allErrs
}

// ValidateApplicationOperation checks the spec of a start or a stop.
func ValidateApplicationOperation(object *metav1.ObjectMeta, spec *app.ApplicationOperationSpec) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMeta(object, true, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	path := field.NewPath("spec")
	allErrs = append(allErrs, validateApplicationName(spec.Application, path.Child("application"))...)
	if n := len(spec.ChangeCause); n > MaxChangeCauseLength {
		allErrs = append(allErrs, field.TooLong(path.Child("changeCause"), n, MaxChangeCauseLength))
	}
	return allErrs
}

// ValidateApplicationRollback checks a rollback request.
func ValidateApplicationRollback(rollback *app.ApplicationRollback) field.ErrorList {
	allErrs := ValidateApplicationOperation(&rollback.ObjectMeta, &app.ApplicationOperationSpec{
		Application: rollback.Spec.Application, ChangeCause: rollback.Spec.ChangeCause,
	})
	if rollback.Spec.Revision < 1 {
		allErrs = append(allErrs, field.Invalid(field.NewPath("spec", "revision"), rollback.Spec.Revision, "revisions count from 1"))
	}
	return allErrs
}

// MaxMembershipResources bounds the resources of one import or removal.
const MaxMembershipResources = 100

// ValidateApplicationMembership checks an import or removal request;
// remove says it is a removal, which needs at least one resource.
func ValidateApplicationMembership(object *metav1.ObjectMeta, spec *app.ApplicationMembershipSpec, remove bool) field.ErrorList {
	allErrs := ValidateApplicationOperation(object, &app.ApplicationOperationSpec{Application: spec.Application, ChangeCause: spec.ChangeCause})
	path := field.NewPath("spec", "resources")
	switch n := len(spec.Resources); {
	case n > MaxMembershipResources:
		allErrs = append(allErrs, field.TooMany(path, n, MaxMembershipResources))
		return allErrs
	case n == 0 && remove:
		allErrs = append(allErrs, field.Required(path, "name the components to remove"))
	}
	seen := map[app.ComponentReference]bool{}
	for i, resource := range spec.Resources {
		at := path.Index(i)
		if resource.Group != "" && resource.Group != "core" {
			for _, msg := range validation.IsDNS1123Subdomain(resource.Group) {
				allErrs = append(allErrs, field.Invalid(at.Child("group"), resource.Group, msg))
			}
		}
		if resource.Kind == "" {
			allErrs = append(allErrs, field.Required(at.Child("kind"), "a kind such as Deployment or Service"))
		} else if len(resource.Kind) > 63 {
			allErrs = append(allErrs, field.TooLong(at.Child("kind"), len(resource.Kind), 63))
		}
		if resource.Name == "" {
			allErrs = append(allErrs, field.Required(at.Child("name"), ""))
		} else {
			for _, msg := range validation.IsDNS1123Subdomain(resource.Name) {
				allErrs = append(allErrs, field.Invalid(at.Child("name"), resource.Name, msg))
			}
		}
		key := resource
		if key.Group == "core" {
			key.Group = ""
		}
		if seen[key] {
			allErrs = append(allErrs, field.Duplicate(at, resource.Kind+"/"+resource.Name))
		}
		seen[key] = true
	}
	return allErrs
}
