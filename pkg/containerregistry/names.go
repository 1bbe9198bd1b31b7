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

// Package containerregistry speaks to the platform's container registry
// (any registry with the distribution API and token authentication): it
// signs the registry's bearer tokens, reads repositories and their tags,
// and deletes them. Repositories are <namespace>/<path>; the namespace is
// the Kubernetes namespace whose RBAC decides access.
package containerregistry

import (
	"fmt"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// nestedSeparator stands for "/" in the names of Images: object names
// cannot hold "/", and repository paths cannot hold "~", so the encoding
// is reversible.
const nestedSeparator = "~"

// pathComponent is one component of a repository path, per the
// distribution reference grammar.
var pathComponent = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*$`)

// tagPattern is a tag, per the distribution reference grammar.
var tagPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// ValidTag says whether tag is a tag name the registry accepts: anything
// else (a "?" or "/", say) would change the URL it is read from.
func ValidTag(tag string) bool { return tagPattern.MatchString(tag) }

// SplitRepository returns the namespace and the Image name of a repository
// path, or an error saying why the path is not one of the platform's.
func SplitRepository(repository string) (namespace, image string, err error) {
	if err := ValidateRepository(repository); err != nil {
		return "", "", err
	}
	namespace, rest, _ := strings.Cut(repository, "/")
	return namespace, strings.ReplaceAll(rest, "/", nestedSeparator), nil
}

// Repository is the repository path of the Image name in namespace.
func Repository(namespace, image string) string {
	return namespace + "/" + strings.ReplaceAll(image, nestedSeparator, "/")
}

// ValidateRepository says why a repository path is not
// <namespace>/<path>, with the namespace a Kubernetes namespace name and
// the path valid for a registry.
func ValidateRepository(repository string) error {
	namespace, path, found := strings.Cut(repository, "/")
	if !found {
		return fmt.Errorf("repository %q must be <namespace>/<name>: the first part is the namespace whose RBAC decides access", repository)
	}
	if errs := validation.IsDNS1123Label(namespace); len(errs) > 0 {
		return fmt.Errorf("repository %q: %q is not a namespace name: %s", repository, namespace, strings.Join(errs, "; "))
	}
	if err := validatePath(path); err != nil {
		return fmt.Errorf("repository %q: %w", repository, err)
	}
	if len(repository) > 255 {
		return fmt.Errorf("repository %q is longer than 255 characters", repository)
	}
	return nil
}

// ValidateImageName says why name is not the name of an Image.
func ValidateImageName(name string) error {
	return validatePath(strings.ReplaceAll(name, nestedSeparator, "/"))
}

func validatePath(path string) error {
	for _, part := range strings.Split(path, "/") {
		if !pathComponent.MatchString(part) {
			return fmt.Errorf("%q is not a valid path component (lower-case letters and digits, separated by '.', '_', '__' or '-')", part)
		}
	}
	return nil
}
