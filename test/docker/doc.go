// Package docker is shoal's container suite: it builds the image shoal:local
// (scripts/build-image.sh, FROM scratch around static binaries), brings the
// repository's docker-compose.yml up under a project name of its own and
// drives it with `docker compose` (or docker-compose v1) and `docker`
// commands: scale up under load, kill a worker, scale down to one, and a
// network partition, each followed by the lost/duplicate check over every
// acknowledged job.
//
// The suite needs a Docker engine and is off by default:
//
//	SHOAL_DOCKER_TESTS=1 go test -count=1 -timeout 20m -v ./test/docker/
//
// Environment:
//
//	SHOAL_DOCKER_TESTS=1        run the suite (otherwise every test skips, saying so)
//	SHOAL_DOCKER_SKIP_BUILD=1   use the existing image instead of building it
//	SHOAL_IMAGE                 image to build and run (default shoal:local)
//	SHOAL_IMAGE_BINARIES        prebuilt worker and submit for the image (see scripts/build-image.sh)
//	SHOAL_DOCKER_ARTIFACTS      directory for the workers' logs (default: a temporary directory, printed)
//	SHOAL_DOCKER_KEEP=1         leave the compose project running after the test, for inspection
//
// Only the lost/duplicate checker (checker_test.go) runs without Docker.
package docker
