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

package containerregistry

import (
	"encoding/json"
	"io"
	"net/http"

	"github.com/google/go-containerregistry/pkg/v1/types"
)

// maxNotificationBytes bounds an envelope of registry events.
const maxNotificationBytes = 1 << 20

// ServeNotifications receives the registry's event envelopes and refreshes
// the repositories they name. A notification only says where to look: the
// cache reads the registry itself, so what it says never becomes a tag
// by itself. Serve it behind the secret the registry sends
// (requestauth.SharedToken): each notification costs reads.
func (c *ImageCache) ServeNotifications(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "registry notifications are POSTed", http.StatusMethodNotAllowed)
		return
	}
	var envelope struct {
		Events []struct {
			Action string `json:"action"`
			Target struct {
				MediaType  string `json:"mediaType"`
				Repository string `json:"repository"`
				Tag        string `json:"tag"`
			} `json:"target"`
		} `json:"events"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, maxNotificationBytes)).Decode(&envelope); err != nil {
		http.Error(w, "malformed registry event envelope: "+err.Error(), http.StatusBadRequest)
		return
	}
	for _, event := range envelope.Events {
		target := event.Target
		switch {
		case ValidateRepository(target.Repository) != nil || !changesTags(event.Action, target.MediaType, target.Tag):
		case event.Action == "push" && target.Tag != "" && !ValidTag(target.Tag):
			// Not a tag the registry could have written: nothing to read.
			// Answered 200 all the same, or the registry would resend it.
		case event.Action == "push" && target.Tag != "":
			c.TagPushed(target.Repository, target.Tag)
		default:
			c.Refresh(target.Repository)
		}
	}
	w.WriteHeader(http.StatusOK)
}

// changesTags tells the events that can change what a repository's tags
// point at: pushes of manifests and deletions. Pulls are left out, not
// least because archon's own reads of the registry are pulls; layer
// uploads come before their manifest.
func changesTags(action, mediaType, tag string) bool {
	switch action {
	case "delete":
		return true
	case "push":
		return tag != "" || types.MediaType(mediaType).IsImage() || types.MediaType(mediaType).IsIndex()
	default:
		return false
	}
}
