package api_test

import (
	"io"
	"mime"
	"net/http"
	"strconv"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem/api"
	"github.com/ordem/ordem/internal/storage"
)

func contentPath(orderID, evidenceID string) string {
	return evidencePath(orderID) + "/" + evidenceID + "/content"
}

// Ensure the content route streams each piece of evidence's exact bytes
// (SHA-256) to the order's parties and admins, inline, with its recorded
// type, never sniffed or cached, sandboxed; over a real connection too.
// Anyone else gets a 404, no token a 401.
func TestEvidenceContent(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres, a Temporal server and an S3 server")
	}
	p := newParties(t)
	orderID := p.orderIn(t, "disputed")
	files := []struct {
		who         session
		name        string
		data        []byte
		contentType string
	}{
		{p.client, `foto "parede" ç.png`, pngFile(t), "image/png"},
		{p.provider, "laudo.pdf", pdfFile(), "application/pdf"},
		{p.admin, "obra.jpeg", jpegFile(t), "image/jpeg"},
		{p.client, "vídeo.mp4", mp4File(), "video/mp4"},
	}
	for _, f := range files {
		res := upload{name: f.name, data: f.data}.send(t, f.who, orderID)
		require.Equal(t, 201, res.Status, "%s: %s", f.name, res.Body)
		var ev api.Evidence
		res.json(t, &ev)
		for i, s := range []session{p.client, p.provider, p.admin} {
			var got response
			if i%2 == 0 {
				got = env.call(t, "GET", contentPath(orderID, ev.ID), s.Token, nil)
			} else {
				got = env.callLive(t, "GET", contentPath(orderID, ev.ID), s.Token, nil)
			}
			require.Equal(t, 200, got.Status, "%s: %s", f.name, got.Body)
			require.Equal(t, sha(f.data), sha(got.Body), "%s: the bytes served are the bytes uploaded", f.name)
			require.Equal(t, f.contentType, got.Header.Get("Content-Type"), f.name)
			require.Equal(t, strconv.Itoa(len(f.data)), got.Header.Get("Content-Length"), f.name)
			cd := got.Header.Get("Content-Disposition")
			require.Equal(t, storage.InlineContentDisposition(f.name), cd)
			disp, params, err := mime.ParseMediaType(cd)
			require.NoError(t, err, cd)
			require.Equal(t, "inline", disp)
			require.Equal(t, f.name, params["filename"], cd)
			require.Equal(t, "nosniff", got.Header.Get("X-Content-Type-Options"))
			require.Equal(t, "private, no-store", got.Header.Get("Cache-Control"))
			require.Equal(t, "sandbox; default-src 'none'", got.Header.Get("Content-Security-Policy"))
		}
	}

	items := listEvidence(t, p.client, orderID)
	require.Len(t, items, len(files))
	ev := items[0].ID

	// Others: the same 404 as for an order or evidence that does not exist.
	for name, s := range map[string]session{"another client": p.otherClient, "another provider": p.otherProvider} {
		res := env.call(t, "GET", contentPath(orderID, ev), s.Token, nil)
		require.Equal(t, 404, res.Status, "%s: %s", name, res.Body)
		require.Equal(t, "not_found", res.errorCode(), name)
		require.NotContains(t, res.Header.Get("Content-Disposition"), "inline", name)
	}
	// Evidence of another order, asked for through this one.
	q := newParties(t)
	otherOrder := q.orderIn(t, "disputed")
	res := upload{name: "outra.png", data: pngFile(t)}.send(t, q.client, otherOrder)
	require.Equal(t, 201, res.Status, string(res.Body))
	var foreign api.Evidence
	res.json(t, &foreign)
	for name, path := range map[string]string{
		"evidence of another order": contentPath(orderID, foreign.ID),
		"an unknown id":             contentPath(orderID, uuid.NewString()),
		"not a uuid":                contentPath(orderID, "x"),
		"an unknown order":          contentPath("999999999", ev),
	} {
		res := env.call(t, "GET", path, p.client.Token, nil)
		require.Equal(t, 404, res.Status, "%s: %s", name, res.Body)
		require.Equal(t, "not_found", res.errorCode(), name)
	}
	// The right evidence of the other order works there, for its parties.
	res = env.call(t, "GET", contentPath(otherOrder, foreign.ID), q.provider.Token, nil)
	require.Equal(t, 200, res.Status, string(res.Body))
	require.Equal(t, sha(pngFile(t)), sha(res.Body))

	// HEAD answers the headers only.
	req, err := http.NewRequest("HEAD", env.baseURL+contentPath(orderID, ev), nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+p.admin.Token)
	head, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, err := io.ReadAll(head.Body)
	head.Body.Close()
	require.NoError(t, err)
	require.Equal(t, 200, head.StatusCode)
	require.Empty(t, body)
	require.Equal(t, strconv.FormatInt(items[0].Size, 10), head.Header.Get("Content-Length"))
	require.Equal(t, "sandbox; default-src 'none'", head.Header.Get("Content-Security-Policy"))

	// No token, or a bad one.
	for name, token := range map[string]string{"no token": "", "a bad token": "not-a-token"} {
		res := env.call(t, "GET", contentPath(orderID, ev), token, nil)
		require.Equal(t, 401, res.Status, "%s: %s", name, res.Body)
		require.Equal(t, "unauthenticated", res.errorCode(), name)
	}
}
