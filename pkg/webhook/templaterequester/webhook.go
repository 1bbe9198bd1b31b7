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

// Package templaterequester records who archon acts as for a template
// application: the user who created it or last changed its chart
// annotations. kube-apiserver calls it for every write of an application
// that names a chart or did; no user can write the record themselves.
package templaterequester

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/acp-archon/archon/pkg/templateapp"
	"github.com/acp-archon/archon/pkg/webhook/admission"
)

// Path is where kube-apiserver sends the reviews (mutating).
const Path = "/admission/template-application-requesters"

// Webhook records requesters, signed for their application.
type Webhook struct {
	signer *templateapp.Signer
}

// New returns the webhook signing with signer.
func New(signer *templateapp.Signer) *Webhook { return &Webhook{signer: signer} }

// Serve answers an admission review of an application.
func (w *Webhook) Serve(rw http.ResponseWriter, r *http.Request) {
	admission.Serve(rw, r, "the template application requester", w.Review)
}

// Review records the requester of the application under review: the
// author of the request when it creates the application, changes a chart
// annotation, or takes the requester annotation off (taking over, with the
// author's own rights); otherwise the requester recorded before, whatever
// the request wrote there.
func (w *Webhook) Review(ctx context.Context, request *admissionv1.AdmissionRequest) (admission.Verdict, error) {
	var object, old metav1.PartialObjectMetadata
	if err := json.Unmarshal(request.Object.Raw, &object); err != nil {
		return admission.Verdict{}, fmt.Errorf("decoding the application: %w", err)
	}
	if request.Operation == admissionv1.Update {
		if err := json.Unmarshal(request.OldObject.Raw, &old); err != nil {
			return admission.Verdict{}, fmt.Errorf("decoding the application as it was: %w", err)
		}
	}
	if !templateapp.IsTemplate(&object) && !templateapp.IsTemplate(&old) {
		return admission.Verdict{}, nil
	}
	if object.Name == "" {
		return admission.Refuse("a template application needs a name rather than metadata.generateName: its helm release is named after it"), nil
	}
	value, decided := recorded(request.Operation, object.Annotations, old.Annotations)
	if !decided {
		requester := templateapp.RequesterFrom(admission.User(request.UserInfo))
		if requester.IsArchon() {
			return admission.Refuse("archon changes no template application's chart for anyone: have the user change it"), nil
		}
		var err error
		if value, err = w.signer.Sign(ctx, request.Namespace, object.Name, requester); err != nil {
			return admission.Verdict{}, err
		}
	}
	if current, ok := object.Annotations[templateapp.RequesterAnnotation]; (ok && current == value) || (!ok && value == "") {
		return admission.Verdict{}, nil
	}
	var patch []map[string]any
	switch {
	case value == "":
		patch = []map[string]any{{"op": "remove", "path": "/metadata/annotations/" + escape(templateapp.RequesterAnnotation)}}
	case object.Annotations == nil:
		patch = []map[string]any{{"op": "add", "path": "/metadata/annotations", "value": map[string]string{templateapp.RequesterAnnotation: value}}}
	default:
		patch = []map[string]any{{"op": "add", "path": "/metadata/annotations/" + escape(templateapp.RequesterAnnotation), "value": value}}
	}
	data, err := json.Marshal(patch)
	verdict := admission.Verdict{Patch: data}
	if _, wrote := object.Annotations[templateapp.RequesterAnnotation]; wrote && decided {
		verdict.Warnings = []string{fmt.Sprintf("annotation %s is archon's record of who changed the chart last; what this request wrote there is undone "+
			"(change a chart annotation, or take the annotation off, to be recorded yourself)", templateapp.RequesterAnnotation)}
	}
	return verdict, err
}

// recorded is the requester annotation an update leaves (decided), or
// says the request's author becomes the requester (not decided). An
// update that changes no chart annotation keeps what was recorded (an
// edit of it undone), none if none was — so that no other writer
// (archon's finalizer, the garbage collector) ever becomes the requester
// of an application written before the webhook was there; one that
// takes the annotation off takes over.
func recorded(operation admissionv1.Operation, annotations, old map[string]string) (string, bool) {
	if operation != admissionv1.Update {
		return "", false
	}
	for _, key := range templateapp.ChartAnnotations {
		now, has := annotations[key]
		was, had := old[key]
		if has != had || now != was {
			return "", false
		}
	}
	previous, had := old[templateapp.RequesterAnnotation]
	if _, still := annotations[templateapp.RequesterAnnotation]; had && !still {
		return "", false
	}
	return previous, true
}

// escape writes a key as a JSON pointer token.
func escape(key string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(key)
}
