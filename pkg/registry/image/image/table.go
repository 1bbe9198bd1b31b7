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

package image

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	imageapi "github.com/acp-archon/archon/pkg/apis/image"
	"github.com/acp-archon/archon/pkg/registry/printers"
)

var columns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: "Repository below the namespace, \"/\" written as \"~\"."},
	{Name: "Tags", Type: "integer", Description: "Number of tags."},
	{Name: "Latest", Type: "string", Description: "The most recently built tag."},
	{Name: "Size", Type: "string", Description: "Size of the latest tag's image (manifest, config and layers)."},
	{Name: "Updated", Type: "string", Description: "Time since the latest tag's image was built."},
	{Name: "Repository", Type: "string", Priority: 1, Description: "Repository path in the registry."},
}

// ConvertToTable prints images the way "kubectl get images" shows them.
func (r *REST) ConvertToTable(_ context.Context, object runtime.Object, tableOptions runtime.Object) (*metav1.Table, error) {
	return printers.Convert(object, tableOptions, columns, func(image *imageapi.Image) []interface{} {
		latest, size, updated := "<none>", "", "<unknown>"
		if tag := Latest(image); tag != nil {
			latest = tag.Name
			size = humanSize(tag.Size)
			if tag.Created != nil {
				updated = printers.Age(*tag.Created)
			}
		}
		return []interface{}{image.Name, int64(len(image.Status.Tags)), latest, size, updated, image.Status.Repository}
	})
}

// Latest is the tag whose image was built last; among images without a
// build time, the last tag by name.
func Latest(image *imageapi.Image) *imageapi.ImageTag {
	var latest *imageapi.ImageTag
	for i := range image.Status.Tags {
		tag := &image.Status.Tags[i]
		switch {
		case latest == nil:
			latest = tag
		case tag.Created != nil && (latest.Created == nil || latest.Created.Before(tag.Created)):
			latest = tag
		case tag.Created == nil && latest.Created == nil:
			latest = tag
		}
	}
	return latest
}

// humanSize prints bytes as "docker images" does, in binary units.
func humanSize(bytes int64) string {
	const unit = 1024
	if bytes < unit {
		return fmt.Sprintf("%dB", bytes)
	}
	div, exp := int64(unit), 0
	for n := bytes / unit; n >= unit; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ciB", float64(bytes)/float64(div), "KMGTPE"[exp])
}
