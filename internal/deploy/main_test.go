package deploy

import (
	"testing"

	"github.com/cso-ssp/platform/internal/awstest"
)

// TestMain stops the moto_server that the S3 tests start on first use.
func TestMain(m *testing.M) { awstest.Main(m) }
