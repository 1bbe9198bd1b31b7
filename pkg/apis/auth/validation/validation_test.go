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
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/acp-archon/archon/pkg/apis/auth"
)

// fieldError is the part of a field.Error a client acts on: what went wrong
// and where. Messages are left out so that rewording one breaks no test.
type fieldError struct {
	Type  field.ErrorType
	Field string
}

func fieldErrors(errs field.ErrorList) []fieldError {
	var out []fieldError
	for _, err := range errs {
		out = append(out, fieldError{err.Type, err.Field})
	}
	return out
}

func assertFieldErrors(t *testing.T, errs field.ErrorList, want []fieldError) {
	t.Helper()
	if got := fieldErrors(errs); !slices.Equal(got, want) {
		t.Errorf("errors = %v, want %v\nfull errors: %v", got, want, errs)
	}
}

// validProject passes every rule and exercises each kind of member, so a case
// only has to break the one rule it is about.
func validProject() *auth.Project {
	return &auth.Project{
		ObjectMeta: metav1.ObjectMeta{
			Name:            "payments",
			ResourceVersion: "7",
			Annotations: map[string]string{
				auth.DisplayNameAnnotation: "Payments",
				auth.DescriptionAnnotation: "Card and wallet payments.",
			},
		},
		Spec: auth.ProjectSpec{
			Clusters: []auth.ProjectCluster{
				{Name: "global", Quota: corev1.ResourceList{
					corev1.ResourceCPU:            resource.MustParse("4"),
					corev1.ResourceRequestsMemory: resource.MustParse("8Gi"),
					"example.com/gpus":            resource.MustParse("0"),
				}},
				{Name: "edge-1"},
			},
			Members: []auth.ProjectMember{
				{Kind: auth.MemberKindUser, Name: "alice@example.com", Role: auth.ProjectRoleAdmin},
				{Kind: auth.MemberKindGroup, Name: "payments-auditors", Role: auth.ProjectRoleAuditor},
				{Kind: auth.MemberKindServiceAccount, Namespace: "ci", Name: "deployer", Role: auth.ProjectRoleAdmin},
			},
		},
	}
}

// Indexes into validProject().Spec.Members.
const (
	userMember           = 0
	serviceAccountMember = 2
)

func TestValidateProject(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*auth.Project)
		want   []fieldError
	}{
		{
			name:   "valid project",
			mutate: func(*auth.Project) {},
		},
		{
			name: "project with only a name",
			mutate: func(p *auth.Project) {
				*p = auth.Project{ObjectMeta: metav1.ObjectMeta{Name: "payments"}}
			},
		},
		{
			name:   "name missing",
			mutate: func(p *auth.Project) { p.Name = "" },
			want:   []fieldError{{field.ErrorTypeRequired, "metadata.name"}},
		},
		{
			name:   "name with uppercase letters",
			mutate: func(p *auth.Project) { p.Name = "Payments" },
			want:   []fieldError{{field.ErrorTypeInvalid, "metadata.name"}},
		},
		{
			name:   "name of 63 characters",
			mutate: func(p *auth.Project) { p.Name = strings.Repeat("a", 63) },
		},
		{
			name:   "name longer than 63 characters",
			mutate: func(p *auth.Project) { p.Name = strings.Repeat("a", 64) },
			want:   []fieldError{{field.ErrorTypeInvalid, "metadata.name"}},
		},
		{
			name:   "name with an underscore",
			mutate: func(p *auth.Project) { p.Name = "pay_ments" },
			want:   []fieldError{{field.ErrorTypeInvalid, "metadata.name"}},
		},
		{
			// A DNS subdomain but not a label: namespace names are built from it.
			name:   "name with a dot",
			mutate: func(p *auth.Project) { p.Name = "pay.ments" },
			want:   []fieldError{{field.ErrorTypeInvalid, "metadata.name"}},
		},
		{
			name: "display name of the maximum length",
			mutate: func(p *auth.Project) {
				p.Annotations[auth.DisplayNameAnnotation] = strings.Repeat("x", MaxDisplayNameLength)
			},
		},
		{
			name: "display name too long",
			mutate: func(p *auth.Project) {
				p.Annotations[auth.DisplayNameAnnotation] = strings.Repeat("x", MaxDisplayNameLength+1)
			},
			want: []fieldError{{field.ErrorTypeTooLong, "metadata.annotations[cpaas.io/display-name]"}},
		},
		{
			name: "duplicate cluster names",
			mutate: func(p *auth.Project) {
				p.Spec.Clusters = append(p.Spec.Clusters, auth.ProjectCluster{Name: "global"})
			},
			want: []fieldError{{field.ErrorTypeDuplicate, "spec.clusters[2].name"}},
		},
		{
			name:   "cluster name not a DNS label",
			mutate: func(p *auth.Project) { p.Spec.Clusters[1].Name = "Edge_1" },
			want:   []fieldError{{field.ErrorTypeInvalid, "spec.clusters[1].name"}},
		},
		{
			name:   "cluster without a name",
			mutate: func(p *auth.Project) { p.Spec.Clusters[1].Name = "" },
			want:   []fieldError{{field.ErrorTypeRequired, "spec.clusters[1].name"}},
		},
		{
			name: "negative quantity",
			mutate: func(p *auth.Project) {
				p.Spec.Clusters[0].Quota = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("-1")}
			},
			want: []fieldError{{field.ErrorTypeInvalid, "spec.clusters[0].quota[cpu]"}},
		},
		{
			name: "unqualified quota key",
			mutate: func(p *auth.Project) {
				p.Spec.Clusters[0].Quota = corev1.ResourceList{"requests memory": resource.MustParse("1Gi")}
			},
			want: []fieldError{{field.ErrorTypeInvalid, "spec.clusters[0].quota[requests memory]"}},
		},
		{
			name: "custom quota key without a domain prefix",
			mutate: func(p *auth.Project) {
				p.Spec.Clusters[0].Quota = corev1.ResourceList{"gpus": resource.MustParse("1"), "example.com/gpus": resource.MustParse("1")}
			},
			want: []fieldError{{field.ErrorTypeInvalid, "spec.clusters[0].quota[gpus]"}},
		},
		{
			name: "standard quota keys",
			mutate: func(p *auth.Project) {
				p.Spec.Clusters[0].Quota = corev1.ResourceList{
					"limits.cpu": resource.MustParse("1"), "count/deployments.apps": resource.MustParse("5"),
					"hugepages-2Mi": resource.MustParse("1Gi"), "gold.storageclass.storage.k8s.io/requests.storage": resource.MustParse("1Gi"),
				}
			},
		},
		{
			name:   "member kind not supported",
			mutate: func(p *auth.Project) { p.Spec.Members[userMember].Kind = "Robot" },
			want:   []fieldError{{field.ErrorTypeNotSupported, "spec.members[0].kind"}},
		},
		{
			// Only v1 defaults the kind; an internal object reaching validation
			// without one was never defaulted and must not be stored.
			name:   "member kind empty",
			mutate: func(p *auth.Project) { p.Spec.Members[userMember].Kind = "" },
			want:   []fieldError{{field.ErrorTypeNotSupported, "spec.members[0].kind"}},
		},
		{
			name:   "member role not supported",
			mutate: func(p *auth.Project) { p.Spec.Members[userMember].Role = "owner" },
			want:   []fieldError{{field.ErrorTypeNotSupported, "spec.members[0].role"}},
		},
		{
			name:   "member without a name",
			mutate: func(p *auth.Project) { p.Spec.Members[userMember].Name = "" },
			want:   []fieldError{{field.ErrorTypeRequired, "spec.members[0].name"}},
		},
		{
			name:   "ServiceAccount without a namespace",
			mutate: func(p *auth.Project) { p.Spec.Members[serviceAccountMember].Namespace = "" },
			want:   []fieldError{{field.ErrorTypeRequired, "spec.members[2].namespace"}},
		},
		{
			name:   "ServiceAccount with an invalid namespace",
			mutate: func(p *auth.Project) { p.Spec.Members[serviceAccountMember].Namespace = "CI" },
			want:   []fieldError{{field.ErrorTypeInvalid, "spec.members[2].namespace"}},
		},
		{
			name:   "ServiceAccount with an invalid name",
			mutate: func(p *auth.Project) { p.Spec.Members[serviceAccountMember].Name = "Deployer" },
			want:   []fieldError{{field.ErrorTypeInvalid, "spec.members[2].name"}},
		},
		{
			name:   "namespace on a User member",
			mutate: func(p *auth.Project) { p.Spec.Members[userMember].Namespace = "ci" },
			want:   []fieldError{{field.ErrorTypeForbidden, "spec.members[0].namespace"}},
		},
		{
			// The role is not part of a member's identity: one subject, one role.
			name: "duplicate member with another role",
			mutate: func(p *auth.Project) {
				p.Spec.Members = append(p.Spec.Members, auth.ProjectMember{
					Kind: auth.MemberKindUser, Name: "alice@example.com", Role: auth.ProjectRoleAuditor,
				})
			},
			want: []fieldError{{field.ErrorTypeDuplicate, "spec.members[3]"}},
		},
		{
			name: "same name as a member of another kind",
			mutate: func(p *auth.Project) {
				p.Spec.Members = append(p.Spec.Members, auth.ProjectMember{
					Kind: auth.MemberKindGroup, Name: "alice@example.com", Role: auth.ProjectRoleAdmin,
				})
			},
		},
		{
			name: "ServiceAccounts of the same name in other namespaces",
			mutate: func(p *auth.Project) {
				p.Spec.Members = append(p.Spec.Members, auth.ProjectMember{
					Kind: auth.MemberKindServiceAccount, Namespace: "cd", Name: "deployer", Role: auth.ProjectRoleAdmin,
				})
			},
		},
		{
			name: "every broken rule is reported",
			mutate: func(p *auth.Project) {
				p.Name = "Payments"
				p.Spec.Clusters[1].Name = "global"
				p.Spec.Members[userMember].Role = ""
			},
			want: []fieldError{
				{field.ErrorTypeInvalid, "metadata.name"},
				{field.ErrorTypeDuplicate, "spec.clusters[1].name"},
				{field.ErrorTypeNotSupported, "spec.members[0].role"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			project := validProject()
			tc.mutate(project)
			assertFieldErrors(t, ValidateProject(project), tc.want)
		})
	}
}

func TestValidateProjectUpdate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*auth.Project)
		want   []fieldError
	}{
		{
			name: "members and quota changed",
			mutate: func(p *auth.Project) {
				p.Spec.Members = p.Spec.Members[:1]
				p.Spec.Clusters[0].Quota[corev1.ResourceCPU] = resource.MustParse("8")
			},
		},
		{
			name:   "renamed",
			mutate: func(p *auth.Project) { p.Name = "billing" },
			want:   []fieldError{{field.ErrorTypeInvalid, "metadata.name"}},
		},
		{
			name:   "resourceVersion missing",
			mutate: func(p *auth.Project) { p.ResourceVersion = "" },
			want:   []fieldError{{field.ErrorTypeInvalid, "metadata.resourceVersion"}},
		},
		{
			name: "display name too long",
			mutate: func(p *auth.Project) {
				p.Annotations[auth.DisplayNameAnnotation] = strings.Repeat("x", MaxDisplayNameLength+1)
			},
			want: []fieldError{{field.ErrorTypeTooLong, "metadata.annotations[cpaas.io/display-name]"}},
		},
		{
			name: "duplicate cluster added",
			mutate: func(p *auth.Project) {
				p.Spec.Clusters = append(p.Spec.Clusters, auth.ProjectCluster{Name: "edge-1"})
			},
			want: []fieldError{{field.ErrorTypeDuplicate, "spec.clusters[2].name"}},
		},
		{
			name:   "ServiceAccount member loses its namespace",
			mutate: func(p *auth.Project) { p.Spec.Members[serviceAccountMember].Namespace = "" },
			want:   []fieldError{{field.ErrorTypeRequired, "spec.members[2].namespace"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			old := validProject()
			project := validProject()
			tc.mutate(project)
			assertFieldErrors(t, ValidateProjectUpdate(project, old), tc.want)
		})
	}
}

func TestValidateProjectStatusUpdate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*auth.Project)
		want   []fieldError
	}{
		{
			name: "terminating with namespaces and quota use",
			mutate: func(p *auth.Project) {
				p.Status = auth.ProjectStatus{
					Phase:      auth.ProjectTerminating,
					Namespaces: []string{"payments-api", "payments-web"},
					Clusters: []auth.ProjectClusterStatus{{
						Name: "global",
						Hard: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")},
						Used: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1500m")},
					}},
				}
			},
		},
		{
			name:   "phase left empty",
			mutate: func(p *auth.Project) { p.Status.Phase = "" },
		},
		{
			name:   "phase not supported",
			mutate: func(p *auth.Project) { p.Status.Phase = "Deleted" },
			want:   []fieldError{{field.ErrorTypeNotSupported, "status.phase"}},
		},
		{
			name: "cluster status without a name",
			mutate: func(p *auth.Project) {
				p.Status.Clusters = []auth.ProjectClusterStatus{{Name: ""}}
			},
			want: []fieldError{{field.ErrorTypeRequired, "status.clusters[0].name"}},
		},
		{
			name: "negative use",
			mutate: func(p *auth.Project) {
				p.Status.Clusters = []auth.ProjectClusterStatus{{
					Name: "global",
					Used: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("-1")},
				}}
			},
			want: []fieldError{{field.ErrorTypeInvalid, "status.clusters[0].used[cpu]"}},
		},
		{
			name: "unqualified key in hard quota",
			mutate: func(p *auth.Project) {
				p.Status.Clusters = []auth.ProjectClusterStatus{{
					Name: "global",
					Hard: corev1.ResourceList{"requests memory": resource.MustParse("1Gi")},
				}}
			},
			want: []fieldError{{field.ErrorTypeInvalid, "status.clusters[0].hard[requests memory]"}},
		},
		{
			name: "namespace listed twice",
			mutate: func(p *auth.Project) {
				p.Status.Namespaces = []string{"billing-dev", "billing-prod", "billing-dev"}
			},
			want: []fieldError{{field.ErrorTypeDuplicate, "status.namespaces[2]"}},
		},
		{
			name: "cluster status listed twice",
			mutate: func(p *auth.Project) {
				p.Status.Clusters = []auth.ProjectClusterStatus{{Name: "global"}, {Name: "global"}}
			},
			want: []fieldError{{field.ErrorTypeDuplicate, "status.clusters[1].name"}},
		},
		{
			// The status strategy puts the stored spec back before validating,
			// so the spec sent with a status update is not judged.
			name: "invalid spec ignored",
			mutate: func(p *auth.Project) {
				p.Spec.Clusters = append(p.Spec.Clusters, auth.ProjectCluster{Name: "global"})
			},
		},
		{
			name:   "renamed",
			mutate: func(p *auth.Project) { p.Name = "billing" },
			want:   []fieldError{{field.ErrorTypeInvalid, "metadata.name"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			old := validProject()
			old.Status.Phase = auth.ProjectActive
			project := old.DeepCopy()
			tc.mutate(project)
			assertFieldErrors(t, ValidateProjectStatusUpdate(project, old), tc.want)
		})
	}
}

func TestValidateNamespaceImport(t *testing.T) {
	valid := func() *auth.NamespaceImport {
		return &auth.NamespaceImport{
			ObjectMeta: metav1.ObjectMeta{Name: "import-legacy"},
			Spec:       auth.NamespaceImportSpec{Project: "shop", Cluster: "global", Namespace: "legacy"},
		}
	}
	tests := []struct {
		name   string
		mutate func(*auth.NamespaceImport)
		want   []fieldError
	}{
		{name: "valid", mutate: func(*auth.NamespaceImport) {}},
		{name: "no project", mutate: func(i *auth.NamespaceImport) { i.Spec.Project = "" }, want: []fieldError{{field.ErrorTypeRequired, "spec.project"}}},
		{name: "no cluster", mutate: func(i *auth.NamespaceImport) { i.Spec.Cluster = "" }, want: []fieldError{{field.ErrorTypeRequired, "spec.cluster"}}},
		{name: "bad namespace", mutate: func(i *auth.NamespaceImport) { i.Spec.Namespace = "Legacy_NS" }, want: []fieldError{{field.ErrorTypeInvalid, "spec.namespace"}}},
		{name: "bad name", mutate: func(i *auth.NamespaceImport) { i.Name = "Import!" }, want: []fieldError{{field.ErrorTypeInvalid, "metadata.name"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			imp := valid()
			tc.mutate(imp)
			assertFieldErrors(t, ValidateNamespaceImport(imp), tc.want)
		})
	}
}
