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

package auth

// The fields, besides metadata.name, that lists and watches can select
// Projects and NamespaceImports by (kubectl get --field-selector). Every
// version's field-label conversion accepts exactly these, and the
// storage exposes exactly these to filtering: one list, so a selector the
// server accepts is one it can match.
const (
	// ProjectPhaseField selects Projects by status.phase.
	ProjectPhaseField = "status.phase"

	// NamespaceImportProjectField selects NamespaceImports by the project
	// they import into.
	NamespaceImportProjectField = "spec.project"
	// NamespaceImportNamespaceField selects NamespaceImports by the
	// namespace they import.
	NamespaceImportNamespaceField = "spec.namespace"
	// NamespaceImportPhaseField selects NamespaceImports by status.phase;
	// archon finds the imports it was interrupted in by it.
	NamespaceImportPhaseField = "status.phase"
)
