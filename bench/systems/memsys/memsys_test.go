package memsys_test

import (
	"testing"

	"github.com/shoal-dev/shoal/bench/harness/systemtest"
	"github.com/shoal-dev/shoal/bench/systems/memsys"
)

func TestConformance(t *testing.T) {
	s, err := memsys.New(4)
	if err != nil {
		t.Fatal(err)
	}
	systemtest.Run(t, s)
}
