package agent

import (
	"context"
	"fmt"
	"io"
	"net/http"
)

// HTTPGetOK answers nil when GET url through c returns 200; readiness probes and
// dependency waits of the roles use it. The body is drained (bounded) so the connection
// can close cleanly.
func HTTPGetOK(ctx context.Context, c *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}
