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

// Package apiserver assembles archon's API groups into a generic API server.
package apiserver

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/registry/rest"
	genericapiserver "k8s.io/apiserver/pkg/server"
	kubeinformers "k8s.io/client-go/informers"
	restclient "k8s.io/client-go/rest"

	"github.com/acp-archon/archon/pkg/apis/auth"
	authv1 "github.com/acp-archon/archon/pkg/apis/auth/v1"
	projectstore "github.com/acp-archon/archon/pkg/registry/auth/project"
)

// Config is everything needed to build an archon server.
type Config struct {
	GenericConfig *genericapiserver.RecommendedConfig
}

// CompletedConfig is a Config with every default filled in.
type CompletedConfig struct {
	generic genericapiserver.CompletedConfig
	// kubeConfig and kubeInformers reach the cluster archon extends; both
	// are nil when archon runs standalone.
	kubeConfig    *restclient.Config
	kubeInformers kubeinformers.SharedInformerFactory
}

// Complete fills in defaults; it mutates the receiver.
func (c *Config) Complete() CompletedConfig {
	return CompletedConfig{
		generic:       c.GenericConfig.Complete(),
		kubeConfig:    c.GenericConfig.ClientConfig,
		kubeInformers: c.GenericConfig.SharedInformerFactory,
	}
}

// Server is a configured archon API server, ready to run.
type Server struct {
	GenericAPIServer *genericapiserver.GenericAPIServer
}

// New builds the server and installs every API group.
func (c CompletedConfig) New() (*Server, error) {
	generic, err := c.generic.New("archon-apiserver", genericapiserver.NewEmptyDelegate())
	if err != nil {
		return nil, err
	}
	if err := installAuthGroup(generic, c.generic); err != nil {
		return nil, err
	}
	addControllers(generic, c.kubeConfig, c.kubeInformers)
	return &Server{GenericAPIServer: generic}, nil
}

func installAuthGroup(server *genericapiserver.GenericAPIServer, config genericapiserver.CompletedConfig) error {
	projects, projectStatus, err := projectstore.NewStorage(Scheme, config.RESTOptionsGetter, config.Authorization.Authorizer)
	if err != nil {
		return err
	}
	server.AddPostStartHookOrDie("project-visibility-index", func(hook genericapiserver.PostStartHookContext) error {
		go projects.RunVisibilityIndex(hook)
		return nil
	})
	group := genericapiserver.NewDefaultAPIGroupInfo(auth.GroupName, Scheme, metav1.ParameterCodec, Codecs)
	group.VersionedResourcesStorageMap[authv1.SchemeGroupVersion.Version] = map[string]rest.Storage{
		"projects":        projects,
		"projects/status": projectStatus,
	}
	return server.InstallAPIGroup(&group)
}
