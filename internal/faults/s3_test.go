package faults_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem/internal/devstack"
	"github.com/ordem/ordem/internal/storage"
)

// party is a registered user of the stack.
type party struct{ id, token string }

// register signs up a user of role and logs them in.
func (s *stack) register(t *testing.T, role string) party {
	t.Helper()
	email := fmt.Sprintf("%s-%d@faults.test", role, rand.Int64())
	res, body := s.post(t, "/v1/auth/register", "", fmt.Sprintf(
		`{"name":"Faults %s","email":%q,"phone":"11999999999","password":"faults-password-1","role":%q}`, role, email, role))
	require.Equal(t, http.StatusCreated, res.StatusCode, body)
	res, body = s.post(t, "/v1/auth/login", "", fmt.Sprintf(`{"email":%q,"password":"faults-password-1"}`, email))
	require.Equal(t, http.StatusOK, res.StatusCode, body)
	var out struct {
		Token string `json:"token"`
		User  struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &out))
	return party{id: out.User.ID, token: out.Token}
}

// fund credits a deposit to p as the admin.
func (s *stack) fund(t *testing.T, admin string, p party, amount string) {
	t.Helper()
	res, body := s.post(t, "/v1/admin/deposits", admin, fmt.Sprintf(`{"user_id":%q,"amount":%q,"reference":"faults-%d","reason":"teste"}`,
		p.id, amount, rand.Int64()))
	require.Equal(t, http.StatusCreated, res.StatusCode, body)
}

// act posts an order action and returns the status and body.
func (s *stack) act(t *testing.T, p party, orderID, action, body string, headers ...string) (int, string) {
	t.Helper()
	res, raw := s.post(t, "/v1/orders/"+orderID+"/"+action, p.token, body, headers...)
	return res.StatusCode, raw
}

// disputedOrder creates an order of 100.00 and drives it to disputed.
func (s *stack) disputedOrder(t *testing.T, admin string) (client, provider party, orderID string) {
	t.Helper()
	client, provider = s.register(t, "client"), s.register(t, "provider")
	s.fund(t, admin, client, "200.00")
	res, body := s.post(t, "/v1/orders", client.token, fmt.Sprintf(`{"provider_id":%q,"title":"Reforma","amount":"100.00"}`, provider.id))
	require.Equal(t, http.StatusCreated, res.StatusCode, body)
	var o struct {
		ID string `json:"id"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &o))
	for _, step := range []struct {
		who          party
		action, body string
	}{{provider, "accept", `{"proposal_version":1}`}, {provider, "deliver", ""}, {client, "contest", `{"reason":"incompleto"}`}} {
		code, raw := s.act(t, step.who, o.ID, step.action, step.body)
		require.Equal(t, http.StatusOK, code, "%s: %s", step.action, raw)
	}
	return client, provider, o.ID
}

var pngBytes, _ = base64.StdEncoding.DecodeString(
	"iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAAABJRU5ErkJggg==")

// upload posts a PNG as evidence and returns the status and body.
func (s *stack) upload(t *testing.T, p party, orderID string) (*http.Response, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="file"; filename="prova.png"`)
	h.Set("Content-Type", "image/png")
	part, err := mw.CreatePart(h)
	require.NoError(t, err)
	_, err = part.Write(pngBytes)
	require.NoError(t, err)
	require.NoError(t, mw.Close())
	req, err := http.NewRequest(http.MethodPost, s.apiURLs[0]+"/v1/orders/"+orderID+"/evidence", &buf)
	require.NoError(t, err)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+p.token)
	res, err := httpClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res, string(raw)
}

// Fault 5: the S3 store is down while parties upload dispute evidence.
// Each upload gets a clear 503 with Retry-After; nothing is recorded and
// nothing half-stored; uploads work again once the store is back; staged
// leftovers (an upload whose API died before attaching it) are cleaned.
func TestS3DownDuringEvidenceUploads(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs the real binaries")
	}
	s := newStack(t, 1, 1)
	admin := s.login(t)
	client, _, orderID := s.disputedOrder(t, admin)

	s.s3.Stop()
	down := time.Now()
	for range 3 {
		res, body := s.upload(t, client, orderID)
		require.Equal(t, http.StatusServiceUnavailable, res.StatusCode, body)
		require.Contains(t, body, `"unavailable"`)
		require.NotEmpty(t, res.Header.Get("Retry-After"))
	}
	require.Zero(t, s.query(t, `SELECT count(*) FROM evidence WHERE order_id = $1`, orderID), "nothing recorded")
	require.Zero(t, s.query(t, `SELECT evidence_count FROM orders WHERE id = $1`, orderID))

	s.startS3()
	recovery := time.Since(down)
	st, err := storage.New(storage.Options{Endpoint: s.s3.Endpoint, Region: devstack.S3Region, Bucket: bucket,
		AccessKey: devstack.S3AccessKey, SecretKey: devstack.S3SecretKey, UsePathStyle: true})
	require.NoError(t, err)
	ctx := context.Background()
	objects := func(prefix string) []string {
		out, err := listKeys(ctx, st, prefix)
		require.NoError(t, err)
		return out
	}
	require.Empty(t, objects(storage.StagingPrefix), "nothing half-stored")
	res, body := s.upload(t, client, orderID)
	require.Equal(t, http.StatusCreated, res.StatusCode, body)
	require.EqualValues(t, 1, s.query(t, `SELECT count(*) FROM evidence WHERE order_id = $1`, orderID))
	require.Len(t, objects("evidence/"), 1)
	require.Empty(t, objects(storage.StagingPrefix))

	// A staged upload left by an API that died before attaching it, older
	// than a day: the worker's cleanup removes it.
	staged, err := st.PutStaging(ctx, bytes.NewReader(pngBytes), int64(len(pngBytes)), "image/png")
	require.NoError(t, err)
	old := time.Now().Add(-25 * time.Hour)
	require.NoError(t, os.Chtimes(filepath.Join(s.dir, "s3", bucket, staged.Key), old, old))
	s.workers[0].stop()
	s.restart(s.workers[0])
	require.Eventually(t, func() bool { return len(objects(storage.StagingPrefix)) == 0 }, 30*time.Second, 200*time.Millisecond,
		"the staged leftover is cleaned")
	addRow(row{fault: "S3 store down during evidence uploads, then back", inFlight: "3 uploads on a disputed order",
		seen: "503 unavailable ×3 (Retry-After), then 201", recovery: recovery.Round(100 * time.Millisecond).String(), moneyLost: "0.00",
		operators: "restore the store; nothing to clean by hand: staged uploads never attached are removed by the worker after a day"})
}

// listKeys lists the bucket's keys under prefix.
func listKeys(ctx context.Context, st *storage.Store, prefix string) ([]string, error) {
	out, err := st.Client().ListObjectsV2(ctx, listInput(st.Bucket(), prefix))
	if err != nil {
		return nil, err
	}
	var keys []string
	for _, o := range out.Contents {
		if o.Key != nil && strings.HasPrefix(*o.Key, prefix) {
			keys = append(keys, *o.Key)
		}
	}
	return keys, nil
}

func listInput(bucket, prefix string) *s3.ListObjectsV2Input {
	return &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)}
}
