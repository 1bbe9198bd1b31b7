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

package validation

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/acp-archon/archon/pkg/apis/app"
)

func repo(spec app.ChartRepoSpec) *app.ChartRepo {
	return &app.ChartRepo{ObjectMeta: metav1.ObjectMeta{Name: "stable", Namespace: "cpaas-system"}, Spec: spec}
}

func TestValidChartRepos(t *testing.T) {
	for _, spec := range []app.ChartRepoSpec{
		{Type: app.ChartRepoTypeChart, URL: "https://charts.example.com/stable"},
		{Type: app.ChartRepoTypeChart, URL: "http://127.0.0.1:8080", Secret: &app.SecretReference{Name: "creds"}},
		{Type: app.ChartRepoTypeOCI, URL: "oci://registry.example.com/team-a/charts"},
		{Type: app.ChartRepoTypeLocal},
	} {
		if errs := ValidateChartRepo(repo(spec)); len(errs) > 0 {
			t.Errorf("%+v: %v", spec, errs)
		}
	}
}

func TestInvalidChartReposNameTheField(t *testing.T) {
	for _, c := range []struct {
		spec  app.ChartRepoSpec
		field string
	}{
		{app.ChartRepoSpec{}, "spec.type"},
		{app.ChartRepoSpec{Type: "Git", URL: "https://x"}, "spec.type"},
		{app.ChartRepoSpec{Type: app.ChartRepoTypeChart}, "spec.url"},
		{app.ChartRepoSpec{Type: app.ChartRepoTypeChart, URL: "ftp://x/charts"}, "spec.url"},
		{app.ChartRepoSpec{Type: app.ChartRepoTypeChart, URL: "https://user:pw@x/charts"}, "spec.url"},
		{app.ChartRepoSpec{Type: app.ChartRepoTypeOCI, URL: "https://registry/x"}, "spec.url"},
		{app.ChartRepoSpec{Type: app.ChartRepoTypeLocal, URL: "https://x"}, "spec.url"},
		{app.ChartRepoSpec{Type: app.ChartRepoTypeLocal, Secret: &app.SecretReference{}}, "spec.secret.name"},
		{app.ChartRepoSpec{Type: app.ChartRepoTypeLocal, Secret: &app.SecretReference{Name: "Bad_Name"}}, "spec.secret.name"},
		{app.ChartRepoSpec{Type: app.ChartRepoTypeLocal, Secret: &app.SecretReference{Name: "s", Namespace: "Bad"}}, "spec.secret.namespace"},
	} {
		errs := ValidateChartRepo(repo(c.spec))
		if got := errorFields(errs); got != c.field {
			t.Errorf("%+v: errors on %q (%v), want on %q alone", c.spec, got, errs, c.field)
		}
	}
}

func TestURLAndTypeCannotChange(t *testing.T) {
	old := repo(app.ChartRepoSpec{Type: app.ChartRepoTypeChart, URL: "https://a.example.com"})
	old.ResourceVersion = "1"
	changed := old.DeepCopy()
	changed.Spec.URL = "https://b.example.com"
	if errs := ValidateChartRepoUpdate(changed, old); len(errs) != 1 || errs[0].Field != "spec.url" {
		t.Errorf("url change: %v", errs)
	}
	secret := old.DeepCopy()
	secret.Spec.Secret = &app.SecretReference{Name: "creds"}
	if errs := ValidateChartRepoUpdate(secret, old); len(errs) != 0 {
		t.Errorf("secret change: %v", errs)
	}
}

func TestApplicationExportRules(t *testing.T) {
	revision := func(n int64) *int64 { return &n }
	valid := app.ApplicationExport{ObjectMeta: metav1.ObjectMeta{Name: "shop-export", Namespace: "shop"},
		Spec: app.ApplicationExportSpec{Application: "shop", Format: app.ExportYAML}}
	if errs := ValidateApplicationExport(&valid); len(errs) > 0 {
		t.Errorf("a valid export: %v", errs)
	}
	chart := valid.DeepCopy()
	chart.Spec.Format = app.ExportHelmChart
	chart.Spec.Chart = &app.ExportChart{Name: "shop", Version: "v1.2.0", Icon: []byte("GIF89a\x01\x00\x01\x00")}
	chart.Spec.Target = &app.ExportTarget{ChartRepo: &app.ChartRepoReference{Name: "team"}}
	if errs := ValidateApplicationExport(chart); len(errs) > 0 {
		t.Errorf("a valid chart export: %v", errs)
	}
	for _, c := range []struct {
		change func(*app.ApplicationExportSpec)
		field  string
	}{
		{func(s *app.ApplicationExportSpec) { s.Application = "" }, "spec.application"},
		{func(s *app.ApplicationExportSpec) { s.Application = "Shop" }, "spec.application"},
		{func(s *app.ApplicationExportSpec) { s.Revision = revision(0) }, "spec.revision"},
		{func(s *app.ApplicationExportSpec) { s.Format = "" }, "spec.format"},
		{func(s *app.ApplicationExportSpec) { s.Format = "Zip" }, "spec.format"},
		{func(s *app.ApplicationExportSpec) { s.Chart = &app.ExportChart{Name: "shop"} }, "spec.chart"},
		{func(s *app.ApplicationExportSpec) {
			s.Target = &app.ExportTarget{ChartRepo: &app.ChartRepoReference{Name: "team"}}
		}, "spec.target"},
		{helmChart(&app.ExportChart{Version: "1.2.0"}, nil), "spec.chart.version"},
		{helmChart(&app.ExportChart{Version: "v1.2"}, nil), "spec.chart.version"},
		{helmChart(&app.ExportChart{Name: "Shop"}, nil), "spec.chart.name"},
		{helmChart(&app.ExportChart{Icon: []byte("<svg xmlns='http://www.w3.org/2000/svg'/>")}, nil), "spec.chart.icon"},
		{helmChart(&app.ExportChart{Icon: append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, MaxIconBytes)...)}, nil), "spec.chart.icon"},
		{helmChart(nil, &app.ExportTarget{}), "spec.target.chartRepo"},
		{helmChart(nil, &app.ExportTarget{ChartRepo: &app.ChartRepoReference{}}), "spec.target.chartRepo.name"},
		{func(s *app.ApplicationExportSpec) {
			helmChart(nil, &app.ExportTarget{ChartRepo: &app.ChartRepoReference{Name: "team"}})(s)
			s.IncludeSecretData = true
		}, "spec.target"},
	} {
		export := valid.DeepCopy()
		c.change(&export.Spec)
		errs := ValidateApplicationExport(export)
		if got := errorFields(errs); got != c.field {
			t.Errorf("%+v: errors on %q (%v), want on %q alone", export.Spec, got, errs, c.field)
		}
	}
	secretData := chart.DeepCopy()
	secretData.Spec.IncludeSecretData = true
	if errs := ValidateApplicationExport(secretData); len(errs) != 1 || errs[0].Type != field.ErrorTypeForbidden || !strings.Contains(errs[0].Detail, "Secret data") {
		t.Errorf("a chart to a repository with Secret data: %v, want spec.target Forbidden", errs)
	}
}

func helmChart(chart *app.ExportChart, target *app.ExportTarget) func(*app.ApplicationExportSpec) {
	return func(s *app.ApplicationExportSpec) {
		s.Format, s.Chart, s.Target = app.ExportHelmChart, chart, target
	}
}

// errorFields lists the field paths of errs, comma-separated, in order.
func errorFields(errs field.ErrorList) string {
	var fields []string
	for _, err := range errs {
		fields = append(fields, err.Field)
	}
	return strings.Join(fields, ",")
}

func TestApplicationSnapshotRules(t *testing.T) {
	valid := app.ApplicationSnapshot{ObjectMeta: metav1.ObjectMeta{Name: "shop-1", Namespace: "shop"},
		Spec: app.ApplicationSnapshotSpec{Application: "shop", ChangeCause: "first release"}}
	if errs := ValidateApplicationSnapshot(&valid); len(errs) > 0 {
		t.Errorf("a valid snapshot: %v", errs)
	}
	for _, c := range []struct {
		change func(*app.ApplicationSnapshotSpec)
		field  string
	}{
		{func(s *app.ApplicationSnapshotSpec) { s.Application = "" }, "spec.application"},
		{func(s *app.ApplicationSnapshotSpec) { s.Application = "Shop" }, "spec.application"},
		{func(s *app.ApplicationSnapshotSpec) { s.ChangeCause = strings.Repeat("x", MaxChangeCauseLength+1) }, "spec.changeCause"},
	} {
		snapshot := valid // the spec is plain values: a copy
		c.change(&snapshot.Spec)
		errs := ValidateApplicationSnapshot(&snapshot)
		if len(errs) != 1 || errs[0].Field != c.field {
			t.Errorf("%+v: errors %v, want one on %s", snapshot.Spec, errs, c.field)
		}
	}
}
