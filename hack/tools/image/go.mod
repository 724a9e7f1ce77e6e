// Module image builds the server's container image with Go tooling alone
// (go-containerregistry): make image runs it. It is a module of its own so
// that its dependencies never move the versions the server builds with.
module github.com/headlamp-k8s/clusters-apiserver/hack/tools/image

go 1.26.0

require github.com/google/go-containerregistry v0.22.1

require (
	github.com/klauspost/compress v1.19.2 // indirect
	github.com/opencontainers/go-digest v1.0.0 // indirect
	github.com/opencontainers/image-spec v1.1.1 // indirect
)
