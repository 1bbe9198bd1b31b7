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

// Package admission serves admission reviews for archon's webhooks: it
// decodes the review, bounded, asks a rule set, and answers with the
// rules' refusal or patch.
package admission

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/klog/v2"
)

// MaxReviewBytes bounds a review's body. kube-apiserver refuses objects
// above 3 MiB, so a review holding one and its old version stays under
// twice that.
const MaxReviewBytes = 7 << 20

// Verdict is what rules say of a request: the problems refusing it, or
// else a JSON patch to make to it (mutating webhooks only).
type Verdict struct {
	Problems []string
	Patch    []byte
	// Warnings are shown to the request's author (kubectl prints them).
	Warnings []string
}

// Refuse is the verdict refusing a request for problems.
func Refuse(problems ...string) Verdict { return Verdict{Problems: problems} }

// Review decides on one request; an error refuses it as an internal
// error, which kube-apiserver reports to the caller.
type Review func(ctx context.Context, request *admissionv1.AdmissionRequest) (Verdict, error)

// Serve answers the admission review POSTed in r with review's verdict;
// rules names the rule set in logs.
func Serve(w http.ResponseWriter, r *http.Request, rules string, review Review) {
	if r.Method != http.MethodPost {
		http.Error(w, "admission reviews are POSTed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxReviewBytes+1))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if len(body) > MaxReviewBytes {
		http.Error(w, fmt.Sprintf("an admission review is at most %d bytes", MaxReviewBytes), http.StatusRequestEntityTooLarge)
		return
	}
	in := &admissionv1.AdmissionReview{}
	if err := json.Unmarshal(body, in); err != nil || in.Request == nil {
		http.Error(w, fmt.Sprintf("not an admission.k8s.io/v1 AdmissionReview: %v", err), http.StatusBadRequest)
		return
	}

	response := &admissionv1.AdmissionResponse{UID: in.Request.UID, Allowed: true}
	verdict, err := review(r.Context(), in.Request)
	switch {
	case err != nil:
		response.Allowed = false
		response.Result = &apierrors.NewInternalError(err).ErrStatus
	case len(verdict.Problems) > 0:
		response.Allowed = false
		response.Result = &metav1.Status{
			Status:  metav1.StatusFailure,
			Code:    http.StatusForbidden,
			Reason:  metav1.StatusReasonForbidden,
			Message: strings.Join(verdict.Problems, "; "),
		}
		klog.V(2).InfoS("Refused by "+rules, "kind", in.Request.Kind.Kind, "namespace", in.Request.Namespace,
			"name", in.Request.Name, "user", in.Request.UserInfo.Username, "reasons", verdict.Problems)
	case len(verdict.Patch) > 0:
		patchType := admissionv1.PatchTypeJSONPatch
		response.Patch, response.PatchType = verdict.Patch, &patchType
	}
	if response.Allowed {
		response.Warnings = verdict.Warnings
	}

	out := admissionv1.AdmissionReview{TypeMeta: in.TypeMeta, Response: response}
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(&out); err != nil {
		klog.ErrorS(err, "Writing an admission response")
	}
}

// IsDryRun says whether the request under review is a dry run.
func IsDryRun(request *admissionv1.AdmissionRequest) bool {
	return request.DryRun != nil && *request.DryRun
}

// User is the author of the request under review.
func User(info authenticationv1.UserInfo) user.Info {
	extra := make(map[string][]string, len(info.Extra))
	for key, values := range info.Extra {
		extra[key] = values
	}
	return &user.DefaultInfo{Name: info.Username, UID: info.UID, Groups: info.Groups, Extra: extra}
}
