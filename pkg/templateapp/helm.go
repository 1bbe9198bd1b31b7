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

package templateapp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/kube"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/releaseutil"
	"helm.sh/helm/v3/pkg/storage/driver"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/resource"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/kubernetes"
	restclient "k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/yaml"
)

const (
	// DesiredLabel is the helm release label recording the Template.Hash
	// a revision was made for: a resync compares it rather than acting
	// again.
	DesiredLabel = "app.cpaas.io/desired"
	// RequesterLabel records the Requester.Hash a revision was made as: a
	// revision that failed is tried again only for another requester.
	RequesterLabel = "app.cpaas.io/requester"
	// MaxHistory is how many revisions of a release helm keeps.
	MaxHistory = 10
	// MaxManifestBytes bounds what a chart renders to: helm keeps the
	// manifest in a Secret of at most 1 MiB, compressed.
	MaxManifestBytes = 8 << 20
	// actionTimeout bounds the hooks of one helm action.
	actionTimeout = 5 * time.Minute
	// callerQPS and callerBurst are the client-side rate of one action.
	callerQPS, callerBurst = 200, 400
)

// Helm runs helm's actions on template applications: each action as the
// requester, reads of release storage with archon's rights (they decide
// whether to act, and reveal nothing). Every record goes through
// sealedDriver; every write of an object through namespacedClient; the
// templates' lookup function finds nothing, so that what the checks see
// rendered is what helm applies. One discovery cache serves all.
type Helm struct {
	base   *restclient.Config
	cached discovery.CachedDiscoveryInterface
	mapper *restmapper.DeferredDiscoveryRESTMapper
	signer *Signer
}

// NewHelm returns the actions, reaching the cluster through base and
// sealing the records they write with signer.
func NewHelm(base *restclient.Config, signer *Signer) (*Helm, error) {
	client, err := discovery.NewDiscoveryClientForConfig(base)
	if err != nil {
		return nil, err
	}
	cached := memory.NewMemCacheClient(client)
	return &Helm{base: base, cached: cached, mapper: restmapper.NewDeferredDiscoveryRESTMapper(cached), signer: signer}, nil
}

// Mapper maps the chart's kinds to resources.
func (h *Helm) Mapper() meta.ResettableRESTMapper { return h.mapper }

// configuration is helm's configuration for a release in namespace,
// reaching the cluster with config: records sealed, objects of namespace
// only, no lookup, capabilities from archon's discovery cache.
func (h *Helm) configuration(namespace string, config *restclient.Config) (*action.Configuration, error) {
	config = restclient.CopyConfig(config)
	config.QPS, config.Burst = callerQPS, callerBurst
	cfg := &action.Configuration{}
	getter := &clientGetter{config: config, cached: h.cached, mapper: h.mapper, namespace: namespace}
	if err := cfg.Init(getter, namespace, "secret", func(string, ...any) {}); err != nil {
		return nil, err
	}
	clientset, err := kubernetes.NewForConfig(config)
	if err != nil {
		return nil, err
	}
	cfg.Releases = sealedStorage(driver.NewSecrets(clientset.CoreV1().Secrets(namespace)), namespace, h.signer)
	cfg.Releases.MaxHistory = MaxHistory
	cfg.KubeClient = &namespacedClient{Client: cfg.KubeClient.(*kube.Client), namespace: namespace}
	if cfg.Capabilities, err = h.capabilities(); err != nil {
		return nil, err
	}
	// Without a client getter helm's templates render without the
	// cluster (lookup finds nothing), at install as in the checks; it
	// needs the getter only for CRDs (skipped) and its capabilities
	// (given).
	cfg.RESTClientGetter = nil
	return cfg, nil
}

// capabilities are the cluster's version and API versions, from the
// discovery cache.
func (h *Helm) capabilities() (*chartutil.Capabilities, error) {
	version, err := h.cached.ServerVersion()
	if err != nil {
		return nil, fmt.Errorf("reading the cluster's version: %w", err)
	}
	versions, err := action.GetVersionSet(h.cached)
	if err != nil && !discovery.IsGroupDiscoveryFailedError(err) {
		return nil, fmt.Errorf("reading the cluster's API versions: %w", err)
	}
	return &chartutil.Capabilities{APIVersions: versions, HelmVersion: chartutil.DefaultCapabilities.HelmVersion,
		KubeVersion: chartutil.KubeVersion{Version: version.GitVersion, Major: version.Major, Minor: version.Minor}}, nil
}

// History lists the revisions of a release, oldest first; none when it
// has none. A record archon did not seal is an *UnsealedError.
func (h *Helm) History(namespace, name string) ([]*release.Release, error) {
	cfg, err := h.configuration(namespace, h.base)
	if err != nil {
		return nil, err
	}
	releases, err := cfg.Releases.History(name)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	releaseutil.SortByRevision(releases)
	return releases, nil
}

// MarkFailed records a revision left pending by an action that stopped
// (archon restarted in the middle of it) as failed, so that helm acts on
// the release again.
func (h *Helm) MarkFailed(rel *release.Release) error {
	cfg, err := h.configuration(rel.Namespace, h.base)
	if err != nil {
		return err
	}
	rel.SetStatus(release.StatusFailed, "interrupted: archon stopped during the action")
	return cfg.Releases.Update(rel)
}

// Action is one helm action on a template application's release.
type Action struct {
	As        Requester
	Namespace string
	Name      string
	Chart     *chart.Chart
	Values    map[string]any
	// Labels are the release labels recorded with the revision.
	Labels map[string]string
	// ObjectLabels are set on every object the chart renders.
	ObjectLabels map[string]string
	// Upgrade renders the chart as an upgrade of the deployed revision.
	Upgrade bool
}

// Render renders the chart as the action would, as the requester (an
// upgrade reads the objects it would change), applying nothing.
func (h *Helm) Render(ctx context.Context, a Action) (*release.Release, error) {
	cfg, err := h.configuration(a.Namespace, a.As.Impersonating(h.base))
	if err != nil {
		return nil, err
	}
	if a.Upgrade {
		upgrade := action.NewUpgrade(cfg)
		upgrade.DryRun, upgrade.Namespace, upgrade.SkipCRDs = true, a.Namespace, true
		upgrade.PostRenderer = labeler(a.ObjectLabels)
		return upgrade.RunWithContext(ctx, a.Name, a.Chart, a.Values)
	}
	install := action.NewInstall(cfg)
	install.DryRun, install.ClientOnly, install.Replace, install.SkipCRDs = true, true, true, true
	install.ReleaseName, install.Namespace = a.Name, a.Namespace
	install.PostRenderer = labeler(a.ObjectLabels)
	return install.RunWithContext(ctx, a.Chart, a.Values)
}

// Install installs the chart as the requester; replace re-uses the name
// of a release whose last revision failed or was uninstalled.
func (h *Helm) Install(ctx context.Context, a Action, replace bool) (*release.Release, error) {
	cfg, err := h.configuration(a.Namespace, a.As.Impersonating(h.base))
	if err != nil {
		return nil, err
	}
	install := action.NewInstall(cfg)
	install.ReleaseName, install.Namespace, install.Replace, install.SkipCRDs = a.Name, a.Namespace, replace, true
	install.Labels, install.PostRenderer = a.Labels, labeler(a.ObjectLabels)
	install.Timeout, install.DisableOpenAPIValidation = actionTimeout, true
	return install.RunWithContext(ctx, a.Chart, a.Values)
}

// Upgrade upgrades the release to the chart and values as the requester.
func (h *Helm) Upgrade(ctx context.Context, a Action) (*release.Release, error) {
	cfg, err := h.configuration(a.Namespace, a.As.Impersonating(h.base))
	if err != nil {
		return nil, err
	}
	upgrade := action.NewUpgrade(cfg)
	upgrade.Namespace, upgrade.MaxHistory, upgrade.SkipCRDs = a.Namespace, MaxHistory, true
	upgrade.Labels, upgrade.PostRenderer = a.Labels, labeler(a.ObjectLabels)
	upgrade.Timeout, upgrade.DisableOpenAPIValidation = actionTimeout, true
	return upgrade.RunWithContext(ctx, a.Name, a.Chart, a.Values)
}

// Rollback brings the release namespace/name back to revision as the
// requester; the new revision records labels (what it was made for).
func (h *Helm) Rollback(as Requester, namespace, name string, revision int) error {
	cfg, err := h.configuration(namespace, as.Impersonating(h.base))
	if err != nil {
		return err
	}
	rollback := action.NewRollback(cfg)
	rollback.Version, rollback.MaxHistory, rollback.Timeout = revision, MaxHistory, actionTimeout
	if err := rollback.Run(name); err != nil {
		return err
	}
	// helm copies the labels of the revision gone back to; the new one
	// was made as this requester.
	last, err := cfg.Releases.Last(name)
	if err != nil {
		return err
	}
	last.Labels[RequesterLabel] = as.Hash()
	return cfg.Releases.Update(last)
}

// Uninstall uninstalls the release as the requester, its records
// included.
func (h *Helm) Uninstall(as Requester, namespace, name string) error {
	cfg, err := h.configuration(namespace, as.Impersonating(h.base))
	if err != nil {
		return err
	}
	uninstall := action.NewUninstall(cfg)
	uninstall.Timeout = actionTimeout
	_, err = uninstall.Run(name)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil
	}
	return err
}

// RemoveFailedInstall uninstalls what an install that failed created, as
// the requester, keeping its record (uninstalled) with why it failed, so
// that a resync does not install it again.
func (h *Helm) RemoveFailedInstall(as Requester, namespace, name, why string) error {
	cfg, err := h.configuration(namespace, as.Impersonating(h.base))
	if err != nil {
		return err
	}
	uninstall := action.NewUninstall(cfg)
	uninstall.KeepHistory, uninstall.Timeout = true, actionTimeout
	if _, err := uninstall.Run(name); err != nil {
		return err
	}
	last, err := cfg.Releases.Last(name)
	if err != nil {
		return err
	}
	last.Info.Description = why
	return cfg.Releases.Update(last)
}

// Forget deletes the release's records as the requester, leaving its
// objects: the application keeps them as a native one. Records are
// deleted whoever wrote them.
func (h *Helm) Forget(as Requester, namespace, name string) error {
	config := as.Impersonating(h.base)
	clientset, err := kubernetes.NewForConfig(config)
	if err != nil {
		return err
	}
	records := driver.NewSecrets(clientset.CoreV1().Secrets(namespace))
	list, err := records.Query(map[string]string{"name": name, "owner": "helm"})
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, rel := range list {
		if _, err := records.Delete(fmt.Sprintf("sh.helm.release.v1.%s.v%d", name, rel.Version)); err != nil && !errors.Is(err, driver.ErrReleaseNotFound) {
			return err
		}
	}
	return nil
}

// namespacedClient is helm's kube client writing only objects of the
// release's namespace: what a chart renders at install that its check did
// not see (a template branch on .Release.IsUpgrade, the time) cannot
// reach other namespaces or the cluster, whoever the requester is.
type namespacedClient struct {
	*kube.Client
	namespace string
}

// outside names the first resource that is not of the namespace.
func (c *namespacedClient) outside(resources kube.ResourceList) error {
	for _, info := range resources {
		if info.Mapping == nil || info.Mapping.Scope.Name() != meta.RESTScopeNameNamespace || info.Namespace != c.namespace {
			return fmt.Errorf("%s %s is not an object of namespace %s: a template application deploys into its own namespace only",
				info.Object.GetObjectKind().GroupVersionKind().Kind, info.Name, c.namespace)
		}
	}
	return nil
}

// Create creates resources of the namespace only.
func (c *namespacedClient) Create(resources kube.ResourceList) (*kube.Result, error) {
	if err := c.outside(resources); err != nil {
		return nil, err
	}
	return c.Client.Create(resources)
}

// Update updates resources of the namespace only (and deletes the
// original ones the target drops, of the namespace too).
func (c *namespacedClient) Update(original, target kube.ResourceList, force bool) (*kube.Result, error) {
	if err := c.outside(target); err != nil {
		return nil, err
	}
	if err := c.outside(original); err != nil {
		return nil, err
	}
	return c.Client.Update(original, target, force)
}

// UpdateThreeWayMerge updates resources of the namespace only.
func (c *namespacedClient) UpdateThreeWayMerge(original, target kube.ResourceList, force bool) (*kube.Result, error) {
	if err := c.outside(target); err != nil {
		return nil, err
	}
	if err := c.outside(original); err != nil {
		return nil, err
	}
	return c.Client.UpdateThreeWayMerge(original, target, force)
}

// Delete deletes the resources of the namespace, and no other.
func (c *namespacedClient) Delete(resources kube.ResourceList) (*kube.Result, []error) {
	return c.Client.Delete(c.inside(resources))
}

// DeleteWithPropagationPolicy deletes the resources of the namespace, and
// no other.
func (c *namespacedClient) DeleteWithPropagationPolicy(resources kube.ResourceList, policy metav1.DeletionPropagation) (*kube.Result, []error) {
	return c.Client.DeleteWithPropagationPolicy(c.inside(resources), policy)
}

// inside are the resources of the namespace.
func (c *namespacedClient) inside(resources kube.ResourceList) kube.ResourceList {
	return resources.Filter(func(info *resource.Info) bool { return c.outside(kube.ResourceList{info}) == nil })
}

// Objects are the objects of a release as rendered, hooks first, each
// with its namespace when the chart names one.
func Objects(rel *release.Release) ([]*unstructured.Unstructured, []*unstructured.Unstructured, error) {
	var hooks []*unstructured.Unstructured
	for _, hook := range rel.Hooks {
		objects, err := decode(hook.Manifest)
		if err != nil {
			return nil, nil, fmt.Errorf("hook %s: %w", hook.Path, err)
		}
		hooks = append(hooks, objects...)
	}
	objects, err := decode(rel.Manifest)
	return hooks, objects, err
}

// decode splits a manifest into its objects, in order.
func decode(manifest string) ([]*unstructured.Unstructured, error) {
	docs := releaseutil.SplitManifests(manifest)
	keys := make([]string, 0, len(docs))
	for key := range docs {
		keys = append(keys, key)
	}
	sort.Sort(releaseutil.BySplitManifestsOrder(keys))
	var objects []*unstructured.Unstructured
	for _, key := range keys {
		obj := map[string]any{}
		if err := yaml.Unmarshal([]byte(docs[key]), &obj); err != nil {
			return nil, err
		}
		if len(obj) == 0 {
			continue
		}
		objects = append(objects, &unstructured.Unstructured{Object: obj})
	}
	return objects, nil
}

// labeler is helm's post-renderer setting labels on every object a chart
// renders (hooks, which helm does not post-render, stay as they are).
type labeler map[string]string

func (l labeler) Run(rendered *bytes.Buffer) (*bytes.Buffer, error) {
	if rendered.Len() > MaxManifestBytes {
		return nil, fmt.Errorf("the chart renders to %d bytes of objects; at most %d are accepted", rendered.Len(), MaxManifestBytes)
	}
	objects, err := decode(rendered.String())
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	for _, obj := range objects {
		if len(l) > 0 {
			labels := obj.GetLabels()
			if labels == nil {
				labels = map[string]string{}
			}
			for k, v := range l {
				labels[k] = v
			}
			obj.SetLabels(labels)
		}
		data, err := yaml.Marshal(obj.Object)
		if err != nil {
			return nil, err
		}
		out.WriteString("---\n")
		out.Write(data)
	}
	return &out, nil
}

// clientGetter gives helm's kube client archon's discovery cache and a
// rest config acting as whoever the action acts as.
type clientGetter struct {
	config    *restclient.Config
	cached    discovery.CachedDiscoveryInterface
	mapper    meta.RESTMapper
	namespace string
}

func (g *clientGetter) ToRESTConfig() (*restclient.Config, error) {
	return restclient.CopyConfig(g.config), nil
}

func (g *clientGetter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	return g.cached, nil
}

func (g *clientGetter) ToRESTMapper() (meta.RESTMapper, error) { return g.mapper, nil }

func (g *clientGetter) ToRawKubeConfigLoader() clientcmd.ClientConfig {
	return namespaceConfig{getter: g}
}

// namespaceConfig is the kubeconfig helm's client asks for its namespace.
type namespaceConfig struct{ getter *clientGetter }

func (c namespaceConfig) RawConfig() (clientcmdapi.Config, error) { return clientcmdapi.Config{}, nil }

func (c namespaceConfig) ClientConfig() (*restclient.Config, error) { return c.getter.ToRESTConfig() }

func (c namespaceConfig) Namespace() (string, bool, error) { return c.getter.namespace, true, nil }

func (c namespaceConfig) ConfigAccess() clientcmd.ConfigAccess { return nil }
