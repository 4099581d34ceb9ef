package jump

import (
	"testing"

	"github.com/cso-ssp/platform/internal/awstest"
)

// TestMain stops the moto_server the certificate renewal tests start (internal/awstest).
func TestMain(m *testing.M) { awstest.Main(m) }
