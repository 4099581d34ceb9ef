package status

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// The newest check report round-trips through both stores, next to the host documents
// without being listed as one.
func TestCheckReportStores(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stores := map[string]interface {
		Store
		CheckStore
	}{
		"dir": Dir{Path: t.TempDir()},
		"s3":  &S3{Client: motoS3(t, "dev-cso-files-111122223333"), Bucket: "dev-cso-files-111122223333"},
	}
	for name, st := range stores {
		t.Run(name, func(t *testing.T) {
			if _, err := st.GetCheck(ctx); !errors.Is(err, ErrNotFound) {
				t.Fatalf("GetCheck before PutCheck: %v, want ErrNotFound", err)
			}
			if err := st.Put(ctx, Host{Host: "jump01", Role: "jump", Env: "dev", State: StateDone}); err != nil {
				t.Fatal(err)
			}
			now := time.Now().UTC().Truncate(time.Second)
			want := CheckReport{Host: "jump01", Env: "dev", Started: now, Published: now.Add(2 * time.Second),
				Report: json.RawMessage(`{"summary":{"fail":1}}`)}
			if err := st.PutCheck(ctx, want); err != nil {
				t.Fatal(err)
			}
			got, err := st.GetCheck(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got.Host != want.Host || got.Env != want.Env || !got.Started.Equal(want.Started) || !got.Published.Equal(want.Published) {
				t.Errorf("GetCheck = %+v, want %+v", got, want)
			}
			var rep struct{ Summary struct{ Fail int } }
			if err := json.Unmarshal(got.Report, &rep); err != nil || rep.Summary.Fail != 1 {
				t.Errorf("report %s: %v", got.Report, err)
			}
			hs, err := st.List(ctx)
			if err != nil || len(hs) != 1 || hs[0].Host != "jump01" {
				t.Errorf("List = %+v, %v; want only jump01's document", hs, err)
			}
		})
	}
}
