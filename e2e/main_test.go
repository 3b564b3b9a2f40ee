package e2e

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(cleanup{m})
}

// cleanup removes the binaries the tests built once they have run.
type cleanup struct{ m *testing.M }

func (c cleanup) Run() int {
	defer func() {
		if builds.dir != "" {
			os.RemoveAll(builds.dir)
		}
	}()
	return c.m.Run()
}
