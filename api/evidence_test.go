package api_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem/api"
	"github.com/ordem/ordem/internal/storage"
	"github.com/ordem/ordem/workflows/order"
)

// ---- tiny real files ----

func testImage() image.Image {
	img := image.NewRGBA(image.Rect(0, 0, 2, 2))
	img.Set(0, 0, color.RGBA{255, 0, 0, 255})
	img.Set(1, 1, color.RGBA{0, 0, 255, 255})
	return img
}

func jpegFile(t testing.TB) []byte {
	var b bytes.Buffer
	require.NoError(t, jpeg.Encode(&b, testImage(), nil))
	return b.Bytes()
}

func pngFile(t testing.TB) []byte {
	var b bytes.Buffer
	require.NoError(t, png.Encode(&b, testImage()))
	return b.Bytes()
}

// pdfFile is a minimal valid one-page PDF with a correct xref table.
func pdfFile() []byte {
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 72 72] >>",
	}
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)
	return b.Bytes()
}

// mp4File is a minimal ISO base media file: an ftyp box, an empty moov
// box and a small mdat.
func mp4File() []byte {
	box := func(typ string, payload []byte) []byte {
		b := make([]byte, 8, 8+len(payload))
		binary.BigEndian.PutUint32(b, uint32(8+len(payload)))
		copy(b[4:], typ)
		return append(b, payload...)
	}
	ftyp := []byte("isom")
	ftyp = binary.BigEndian.AppendUint32(ftyp, 0x200)
	ftyp = append(ftyp, "isomiso2avc1mp41"...)
	mvhd := make([]byte, 100)
	binary.BigEndian.PutUint32(mvhd[12:], 1000)
	binary.BigEndian.PutUint32(mvhd[20:], 0x00010000)
	binary.BigEndian.PutUint16(mvhd[24:], 0x0100)
	binary.BigEndian.PutUint32(mvhd[96:], 1)
	var out []byte
	out = append(out, box("ftyp", ftyp)...)
	out = append(out, box("moov", box("mvhd", mvhd))...)
	out = append(out, box("mdat", []byte("ordem"))...)
	return out
}

// elfFile is the header of a 64-bit x86-64 Linux executable.
func elfFile() []byte {
	h := make([]byte, 64)
	copy(h, "\x7fELF")
	h[4], h[5], h[6] = 2, 1, 1
	binary.LittleEndian.PutUint16(h[16:], 2)
	binary.LittleEndian.PutUint16(h[18:], 0x3e)
	binary.LittleEndian.PutUint32(h[20:], 1)
	return h
}

// padded is a JPEG of exactly n bytes (a real JPEG followed by padding).
func padded(t testing.TB, n int) []byte {
	b := jpegFile(t)
	require.Less(t, len(b), n)
	return append(b, bytes.Repeat([]byte{0}, n-len(b))...)
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// ---- requests ----

// multipartBody builds an upload: the file in the field "file" with the
// given Content-Disposition parameters (filename="…" unless disposition
// is set) and an optional description.
type upload struct {
	name        string // filename parameter (quoted, as mime/multipart writes it)
	disposition string // raw Content-Disposition, overriding name
	data        []byte
	description string
}

func (u upload) body(t testing.TB) (body []byte, contentType string) {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	h := textproto.MIMEHeader{}
	cd := u.disposition
	if cd == "" {
		cd = fmt.Sprintf(`form-data; name="file"; filename="%s"`, strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(u.name))
	}
	h.Set("Content-Disposition", cd)
	h.Set("Content-Type", "application/octet-stream")
	pw, err := w.CreatePart(h)
	require.NoError(t, err)
	_, err = pw.Write(u.data)
	require.NoError(t, err)
	if u.description != "" {
		require.NoError(t, w.WriteField("description", u.description))
	}
	require.NoError(t, w.Close())
	return b.Bytes(), w.FormDataContentType()
}

func evidencePath(orderID string) string { return "/v1/orders/" + orderID + "/evidence" }

// send uploads u through the app.
func (u upload) send(t testing.TB, s session, orderID string) response {
	t.Helper()
	body, ct := u.body(t)
	return env.call(t, "POST", evidencePath(orderID), s.Token, body, "Content-Type", ct)
}

// sendLive uploads u over a real connection, where the HTTP server's own
// body limit applies.
func (u upload) sendLive(t testing.TB, s session, orderID string) response {
	t.Helper()
	body, ct := u.body(t)
	return postLive(t, evidencePath(orderID), s.Token, ct, body)
}

func postLive(t testing.TB, path, token, contentType string, body []byte) response {
	t.Helper()
	req, err := http.NewRequest("POST", env.baseURL+path, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", contentType)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return response{Status: res.StatusCode, Body: raw, Header: res.Header}
}

// rawRequest writes req as is to a new connection to the live server and
// reads the answer.
func rawRequest(t testing.TB, req []byte) response {
	t.Helper()
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(env.baseURL, "http://"), 5*time.Second)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(30*time.Second)))
	_, err = conn.Write(req)
	require.NoError(t, err)
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return response{Status: res.StatusCode, Body: raw, Header: res.Header}
}

// ---- probes ----

// bucketKeys lists every key in the evidence bucket under prefix, sorted.
func bucketKeys(t testing.TB, prefix string) []string {
	t.Helper()
	var keys []string
	p := s3.NewListObjectsV2Paginator(env.store.Client(), &s3.ListObjectsV2Input{Bucket: aws.String(env.store.Bucket()),
		Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		require.NoError(t, err)
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	slices.Sort(keys)
	return keys
}

func evidenceRows(t testing.TB, orderID string) int {
	t.Helper()
	id, err := strconv.ParseInt(orderID, 10, 64)
	require.NoError(t, err)
	var n int
	require.NoError(t, env.pool.QueryRow(context.Background(), `SELECT count(*) FROM evidence WHERE order_id = $1`, id).Scan(&n))
	return n
}

func evidenceCount(t testing.TB, s session, orderID string) int {
	t.Helper()
	res := env.call(t, "GET", "/v1/orders/"+orderID, s.Token, nil)
	require.Equal(t, 200, res.Status, string(res.Body))
	var o api.Order
	res.json(t, &o)
	return o.EvidenceCount
}

func listEvidence(t testing.TB, s session, orderID string) []api.Evidence {
	t.Helper()
	res := env.call(t, "GET", evidencePath(orderID), s.Token, nil)
	require.Equal(t, 200, res.Status, string(res.Body))
	var out struct {
		Items []api.Evidence `json:"items"`
	}
	res.json(t, &out)
	return out.Items
}

// download asks for a link to a piece of evidence and fetches it without
// credentials, as a browser would.
func download(t testing.TB, s session, orderID, evidenceID string) (api.EvidenceDownload, []byte, http.Header) {
	t.Helper()
	res := env.call(t, "GET", evidencePath(orderID)+"/"+evidenceID, s.Token, nil)
	require.Equal(t, 200, res.Status, string(res.Body))
	var d api.EvidenceDownload
	res.json(t, &d)
	require.NotEmpty(t, d.URL)
	got, err := http.Get(d.URL)
	require.NoError(t, err)
	defer got.Body.Close()
	data, err := io.ReadAll(got.Body)
	require.NoError(t, err)
	require.Equal(t, 200, got.StatusCode, string(data))
	return d, data, got.Header
}

// ---- tests ----

// Ensure every allowed type is accepted from each party and an admin,
// recorded with its digest, stored at its final key and downloadable
// through the presigned link, byte for byte, as an attachment.
func TestEvidenceUploadAndDownload(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres, a Temporal server and an S3 server")
	}
	p := newParties(t)
	orderID := p.orderIn(t, "disputed")
	files := []struct {
		who         session
		role        string
		name        string
		data        []byte
		contentType string
		ext         string
	}{
		{p.client, "client", "foto da parede.jpg", jpegFile(t), "image/jpeg", "jpg"},
		{p.provider, "provider", "Tela.PNG", pngFile(t), "image/png", "png"},
		{p.admin, "admin", "laudo.pdf", pdfFile(), "application/pdf", "pdf"},
		{p.client, "client", "vídeo.mp4", mp4File(), "video/mp4", "mp4"},
		{p.provider, "provider", "recibo.jpeg", jpegFile(t), "image/jpeg", "jpeg"},
	}
	uploaded := map[string]api.Evidence{}
	for i, f := range files {
		res := upload{name: f.name, data: f.data, description: "prova " + strconv.Itoa(i)}.send(t, f.who, orderID)
		require.Equal(t, 201, res.Status, "%s: %s", f.name, res.Body)
		var ev api.Evidence
		res.json(t, &ev)
		require.Equal(t, orderID, ev.OrderID)
		require.Equal(t, f.who.ID, ev.UploaderID)
		require.Equal(t, f.role, string(ev.UploaderRole))
		require.Equal(t, f.name, ev.FileName)
		require.Equal(t, f.contentType, ev.ContentType)
		require.Equal(t, int64(len(f.data)), ev.Size)
		require.Equal(t, sha(f.data), ev.SHA256)
		require.Equal(t, "prova "+strconv.Itoa(i), ev.Description)
		uploaded[ev.ID] = ev
		id, err := strconv.ParseInt(orderID, 10, 64)
		require.NoError(t, err)
		require.Contains(t, bucketKeys(t, "evidence/"+orderID+"/"), order.EvidenceObjectKey(id, ev.ID, f.ext))
	}
	require.Len(t, uploaded, len(files))
	require.Equal(t, len(files), evidenceCount(t, p.client, orderID))
	require.Equal(t, len(files), evidenceRows(t, orderID))
	require.Len(t, bucketKeys(t, "evidence/"+orderID+"/"), len(files))

	// Everyone allowed sees the same list and downloads the same bytes.
	for _, s := range []session{p.client, p.provider, p.admin} {
		items := listEvidence(t, s, orderID)
		require.Len(t, items, len(files))
		for _, it := range items {
			require.Equal(t, uploaded[it.ID], it)
		}
	}
	for i, f := range files {
		var ev api.Evidence
		for _, e := range uploaded {
			if e.FileName == f.name && e.SHA256 == sha(f.data) && e.Description == "prova "+strconv.Itoa(i) {
				ev = e
			}
		}
		require.NotEmpty(t, ev.ID, f.name)
		who := []session{p.client, p.provider, p.admin}[i%3]
		before := time.Now()
		d, data, h := download(t, who, orderID, ev.ID)
		require.Equal(t, ev, d.Evidence)
		require.Equal(t, sha(f.data), sha(data), "%s downloads the same bytes", f.name)
		cd := h.Get("Content-Disposition")
		require.True(t, strings.HasPrefix(cd, "attachment;"), "Content-Disposition %q", cd)
		require.Equal(t, storage.ContentDisposition(f.name), cd)
		require.Equal(t, f.contentType, h.Get("Content-Type"))
		require.WithinDuration(t, before.Add(5*time.Minute), d.ExpiresAt, 5*time.Second, "a short-lived link")
		require.Contains(t, d.URL, "X-Amz-Expires=300")
	}
	env.requireLedgerClean(t)
}

// Ensure each bad upload is refused with its status and code and leaves
// nothing behind: no evidence row, no count, nothing new in the bucket,
// under staging/ or evidence/.
func TestEvidenceUploadRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres, a Temporal server and an S3 server")
	}
	p := newParties(t)
	disputed := p.orderIn(t, "disputed")
	delivered := p.orderIn(t, "delivered")
	max := int(env.cfg.MaxUploadSize)
	require.Equal(t, 1<<20, max, "the test config sets MAX_UPLOAD_SIZE")
	jpg := jpegFile(t)

	cases := []struct {
		name    string
		who     session
		orderID string
		u       upload
		live    bool // over a real connection (size limits)
		status  int
		code    string
		message string // part of the error message
	}{
		{name: "MAX_UPLOAD_SIZE+1 bytes", who: p.client, u: upload{name: "big.jpg", data: padded(t, max+1)}, live: true,
			status: 413, code: "too_large", message: fmt.Sprintf("the limit is %d bytes", max)},
		{name: "an empty file", who: p.client, u: upload{name: "vazio.jpg", data: nil}, status: 422, code: "validation_failed"},
		{name: "an executable renamed .jpg", who: p.client, u: upload{name: "foto.jpg", data: elfFile()}, status: 422,
			code: "validation_failed", message: "executable"},
		{name: "x.jpg.php", who: p.client, u: upload{name: "x.jpg.php", data: jpg}, status: 422, code: "validation_failed",
			message: "double extension"},
		{name: "a PNG named .pdf", who: p.provider, u: upload{name: "nota.pdf", data: pngFile(t)}, status: 422,
			code: "validation_failed", message: "PNG"},
		{name: "a name with ../", who: p.client, u: upload{name: "../x.jpg", data: jpg}, status: 422, code: "validation_failed"},
		{name: "a name with ../ deeper", who: p.admin, u: upload{name: "../../etc/passwd.jpg", data: jpg}, status: 422,
			code: "validation_failed"},
		{name: "a name with an (encoded) null byte", who: p.client,
			u:      upload{disposition: `form-data; name="file"; filename*=UTF-8''x%00.jpg`, data: jpg},
			status: 422, code: "validation_failed", message: "NUL"},
		{name: "a name with an encoded ../", who: p.client,
			u:      upload{disposition: `form-data; name="file"; filename*=UTF-8''..%2Fx.jpg`, data: jpg},
			status: 422, code: "validation_failed"},
		// A raw NUL byte in a part header is malformed MIME: the request
		// cannot be parsed at all.
		{name: "a name with a raw null byte", who: p.client, u: upload{name: "x\x00.jpg", data: jpg}, live: true, status: 400,
			code: "invalid_request"},
		{name: "a non-disputed order", who: p.client, orderID: delivered, u: upload{name: "x.jpg", data: jpg}, status: 409,
			code: "invalid_transition"},
		{name: "another client", who: p.otherClient, u: upload{name: "x.jpg", data: jpg}, status: 404, code: "not_found"},
		{name: "another provider", who: p.otherProvider, u: upload{name: "x.jpg", data: jpg}, status: 404, code: "not_found"},
		{name: "anonymous", who: session{}, u: upload{name: "x.jpg", data: jpg}, status: 401, code: "unauthenticated"},
		{name: "an extension not allowed", who: p.client, u: upload{name: "x.gif", data: jpg}, status: 422, code: "validation_failed"},
		{name: "no file name", who: p.client, u: upload{disposition: `form-data; name="file"; filename=""`, data: jpg},
			status: 400, code: "invalid_request"},
		{name: "the file in another field", who: p.client, u: upload{disposition: `form-data; name="foto"; filename="x.jpg"`, data: jpg},
			status: 400, code: "invalid_request"},
	}
	before := bucketKeys(t, "")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			orderID := c.orderID
			if orderID == "" {
				orderID = disputed
			}
			var res response
			if c.live {
				res = c.u.sendLive(t, c.who, orderID)
			} else {
				res = c.u.send(t, c.who, orderID)
			}
			require.Equal(t, c.status, res.Status, string(res.Body))
			require.Equal(t, c.code, res.errorCode(), string(res.Body))
			if c.message != "" {
				require.Contains(t, string(res.Body), c.message)
			}
			for _, id := range []string{disputed, delivered} {
				require.Zero(t, evidenceRows(t, id), "no evidence row")
				require.Zero(t, evidenceCount(t, p.admin, id), "no evidence count")
			}
			require.Equal(t, before, bucketKeys(t, ""), "nothing stored in the bucket")
			require.Empty(t, bucketKeys(t, "evidence/"+disputed+"/"))
			require.Empty(t, bucketKeys(t, "evidence/"+delivered+"/"))
		})
	}
	// Bodies over the HTTP server's own limit (MAX_UPLOAD_SIZE + 64 KiB)
	// are refused before any handler runs. The server refuses on what it
	// has read so far and does not read the rest, so the test sends no
	// more than that: a client still writing the rest of a body the
	// server will not read may see its connection reset before it reads
	// the 413.
	body, ct := upload{name: "huge.jpg", data: padded(t, max+64*1024+1)}.body(t)
	serverLimit := max + 64*1024
	require.Greater(t, len(body), serverLimit)
	t.Run("a body over the server-wide limit (declared length)", func(t *testing.T) {
		head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n",
			evidencePath(disputed), p.client.Token, ct, len(body))
		res := rawRequest(t, []byte(head))
		require.Equal(t, 413, res.Status, string(res.Body))
		require.Equal(t, "too_large", res.errorCode())
		require.Contains(t, string(res.Body), "request body is too large", "the HTTP server's limit")
		require.Zero(t, evidenceRows(t, disputed))
		require.Equal(t, before, bucketKeys(t, ""))
	})
	t.Run("a body over the server-wide limit (chunked, sent up to the limit)", func(t *testing.T) {
		var req bytes.Buffer
		fmt.Fprintf(&req, "POST %s HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer %s\r\nContent-Type: %s\r\nTransfer-Encoding: chunked\r\n\r\n",
			evidencePath(disputed), p.client.Token, ct)
		const chunk = 64 * 1024
		require.Zero(t, serverLimit%chunk)
		for off := 0; off < serverLimit; off += chunk {
			fmt.Fprintf(&req, "%x\r\n", chunk)
			req.Write(body[off : off+chunk])
			req.WriteString("\r\n")
		}
		fmt.Fprintf(&req, "%x\r\n", len(body)-serverLimit) // one byte too many: refused on its size line
		res := rawRequest(t, req.Bytes())
		require.Equal(t, 413, res.Status, string(res.Body))
		require.Equal(t, "too_large", res.errorCode())
		require.Contains(t, string(res.Body), "request body is too large", "the HTTP server's limit")
		require.Zero(t, evidenceRows(t, disputed))
		require.Equal(t, before, bucketKeys(t, ""))
	})

	// Nothing in staging at all: every test upload so far was either
	// promoted or never stored.
	require.Empty(t, bucketKeys(t, storage.StagingPrefix))

	// And the order still takes a good upload.
	res := upload{name: "ok.jpg", data: jpg}.send(t, p.client, disputed)
	require.Equal(t, 201, res.Status, string(res.Body))
	require.Equal(t, 1, evidenceRows(t, disputed))
	require.Empty(t, bucketKeys(t, storage.StagingPrefix))
}

// Ensure two uploads sent at the same time on the same order are both
// recorded: two rows, two objects, evidence_count 2.
func TestEvidenceConcurrentUploads(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres, a Temporal server and an S3 server")
	}
	p := newParties(t)
	orderID := p.orderIn(t, "disputed")
	files := [][]byte{jpegFile(t), pdfFile()}
	names := []string{"a.jpg", "b.pdf"}
	who := []session{p.client, p.provider}
	results := make([]response, len(files))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range files {
		body, ct := upload{name: names[i], data: files[i]}.body(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i] = postLiveNoFail(env.baseURL+evidencePath(orderID), who[i].Token, ct, body)
		}()
	}
	close(start)
	wg.Wait()
	var ids []string
	for i, r := range results {
		require.Equal(t, 201, r.Status, "%s: %s", names[i], r.Body)
		var ev api.Evidence
		r.json(t, &ev)
		require.Equal(t, sha(files[i]), ev.SHA256)
		ids = append(ids, ev.ID)
	}
	require.NotEqual(t, ids[0], ids[1])
	require.Equal(t, 2, evidenceCount(t, p.client, orderID))
	require.Equal(t, 2, evidenceRows(t, orderID))
	require.Len(t, bucketKeys(t, "evidence/"+orderID+"/"), 2)
	require.Len(t, listEvidence(t, p.admin, orderID), 2)
	for i, id := range ids {
		_, data, _ := download(t, p.client, orderID, id)
		require.Equal(t, sha(files[i]), sha(data))
	}
}

// postLiveNoFail is postLive for goroutines: errors become status 0.
func postLiveNoFail(url, token, contentType string, body []byte) response {
	req, err := http.NewRequest("POST", url, bytes.NewReader(body))
	if err != nil {
		return response{Body: []byte(err.Error())}
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return response{Body: []byte(err.Error())}
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return response{Body: []byte(err.Error())}
	}
	return response{Status: res.StatusCode, Body: raw, Header: res.Header}
}

// Ensure the list and download routes answer the order's client and
// provider and the admins, 404 to everyone else (401 anonymous), and 404
// for evidence that is not the order's.
func TestEvidenceListAndDownloadAuthorization(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres, a Temporal server and an S3 server")
	}
	p := newParties(t)
	orderID := p.orderIn(t, "disputed")
	res := upload{name: "parede.jpg", data: jpegFile(t)}.send(t, p.client, orderID)
	require.Equal(t, 201, res.Status, string(res.Body))
	var ev api.Evidence
	res.json(t, &ev)

	// Another order the strangers are parties to, with its own evidence.
	q := parties{client: p.otherClient, provider: p.otherProvider, admin: p.admin}
	otherOrder := q.orderIn(t, "disputed")
	res = upload{name: "outra.pdf", data: pdfFile()}.send(t, q.provider, otherOrder)
	require.Equal(t, 201, res.Status, string(res.Body))
	var otherEv api.Evidence
	res.json(t, &otherEv)

	names := []string{"client", "other client", "provider", "other provider", "admin", "anonymous"}
	who := []session{p.client, p.otherClient, p.provider, p.otherProvider, p.admin, {}}
	want := []int{200, 404, 200, 404, 200, 401}
	for i, s := range who {
		for _, path := range []string{evidencePath(orderID), evidencePath(orderID) + "/" + ev.ID} {
			res := env.call(t, "GET", path, s.Token, nil)
			require.Equal(t, want[i], res.Status, "GET %s as %s: %s", path, names[i], res.Body)
			if want[i] >= 400 {
				require.NotEmpty(t, res.errorCode())
				require.NotContains(t, string(res.Body), "X-Amz-Signature", "no link leaks")
			}
		}
	}
	for _, s := range []session{p.client, p.provider, p.admin} {
		for _, bad := range []string{"00000000-0000-4000-8000-000000000000", "not-a-uuid", otherEv.ID} {
			res := env.call(t, "GET", evidencePath(orderID)+"/"+bad, s.Token, nil)
			require.Equal(t, 404, res.Status, "%s: %s", bad, res.Body)
			require.Equal(t, "not_found", res.errorCode())
		}
	}
	// The list shows only the order's own evidence.
	items := listEvidence(t, p.admin, orderID)
	require.Len(t, items, 1)
	require.Equal(t, ev.ID, items[0].ID)
	// An order without evidence lists nothing (as an empty array).
	fresh := p.orderIn(t, "negotiating")
	res = env.call(t, "GET", evidencePath(fresh), p.client.Token, nil)
	require.Equal(t, 200, res.Status)
	require.JSONEq(t, `{"items":[]}`, string(res.Body))
}
