package jobs_test

import (
	"testing"

	"github.com/shoal-dev/shoal/pkg/jobs"
	"github.com/shoal-dev/shoal/pkg/jobs/jobstest"
)

func TestMemLogStore(t *testing.T) {
	jobstest.TestLogStore(t, func(t *testing.T) jobs.LogStore { return jobs.NewMemLogStore() })
}
