package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"go.temporal.io/sdk/client"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/evidence"
	"github.com/ordem/ordem/workflows/order"
)

// presignTTL is how long a download link works.
const presignTTL = 5 * time.Minute

// uploadOverhead is what a multipart envelope may add around the file.
const uploadOverhead = 64 * 1024

func (s *Server) mountEvidence(r fiber.Router) {
	o := r.Group("/orders/:id/evidence", s.authenticate)
	o.Post("/", s.uploadEvidence)
	o.Get("/", s.listEvidence)
	o.Get("/:evidence_id", s.downloadEvidence)
	o.Get("/:evidence_id/content", s.evidenceContent)
}

// Evidence is a piece of dispute evidence as the API shows it.
type Evidence struct {
	ID           string     `json:"id"`
	OrderID      string     `json:"order_id"`
	UploaderID   string     `json:"uploader_id"`
	UploaderRole ordem.Role `json:"uploader_role"`
	FileName     string     `json:"file_name"`
	ContentType  string     `json:"content_type"`
	Size         int64      `json:"size"`
	SHA256       string     `json:"sha256"`
	Description  string     `json:"description"`
	CreatedAt    time.Time  `json:"created_at"`
}

// EvidenceDownload is a short-lived link to a piece of evidence.
type EvidenceDownload struct {
	Evidence
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
}

// uploadEvidence takes one file (multipart field "file", optional
// "description") for a disputed order from its client, its provider or an
// admin. Every check runs before anything is kept; the bytes then stream to
// a server-chosen staging key, and the workflow's add_evidence update moves
// them to their final key and records them. A refused or failed upload
// leaves nothing behind.
func (s *Server) uploadEvidence(c *fiber.Ctx) error {
	p := caller(c)
	orderID, o, err := s.pathOrder(c)
	if err != nil {
		return err
	}
	if err := o.state.Permit(order.ActionAddEvidence, actorOf(p), s.now()); err != nil {
		return err
	}
	if s.Storage == nil {
		return errors.New("evidence storage is not configured")
	}
	form, err := c.MultipartForm()
	if err != nil {
		return ordem.Errorf(ordem.EInvalid, "the request must be multipart/form-data with one file in the field \"file\"")
	}
	for name := range form.File {
		if name != "file" {
			return ordem.Errorf(ordem.EInvalid, "unexpected file field %q: send one file in the field \"file\"", name)
		}
	}
	for name := range form.Value {
		if name != "description" {
			return ordem.Errorf(ordem.EInvalid, "unknown field %q", name)
		}
	}
	files := form.File["file"]
	if len(files) != 1 {
		return (fieldErrors{"file": "send exactly one file"}).err()
	}
	fh := files[0]
	description := ""
	if d := form.Value["description"]; len(d) > 0 {
		description = d[0]
	}
	f := fieldErrors{}
	checkMultiline(f, "description", description, false, 2000)
	if err := f.err(); err != nil {
		return err
	}
	if fh.Size > s.Config.MaxUploadSize {
		return ordem.Errorf(ordem.ETooLarge, "the file is %d bytes; the limit is %d bytes", fh.Size, s.Config.MaxUploadSize)
	}
	if fh.Size == 0 {
		return (fieldErrors{"file": "is empty"}).err()
	}
	// The name as the client sent it: the multipart parser reduces it to
	// its base name ("../x.jpg" arrives as "x.jpg"), which would hide a
	// path the name check must refuse.
	name, err := sentFileName(c)
	if err != nil {
		return err
	}
	ext, err := evidence.CheckName(name, s.Config.AllowedExtensions)
	if err != nil {
		return err
	}
	file, err := fh.Open()
	if err != nil {
		return fmt.Errorf("open uploaded file: %w", err)
	}
	defer file.Close()
	head := make([]byte, evidence.HeadSize)
	n, err := io.ReadFull(file, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("read uploaded file: %w", err)
	}
	contentType, err := evidence.CheckContent(head[:n], ext)
	if err != nil {
		return err
	}

	staged, err := s.Storage.PutStaging(c.UserContext(), io.MultiReader(bytes.NewReader(head[:n]), file), fh.Size, contentType)
	if err != nil {
		// The file was checked: a store that fails to take it is down or
		// overloaded, not refusing it. Nothing was recorded.
		s.uploadFailed(c, "storage", err)
		return &ordem.Error{Code: ordem.EUnavailable, RetryAfter: 10 * time.Second,
			Message: "the evidence store is unavailable; nothing was kept: retry the upload shortly"}
	}
	in := order.AddEvidenceInput{Actor: requestActor(c), EvidenceID: uuid.NewString(), StagingKey: staged.Key,
		FileName: name, Extension: ext, ContentType: contentType, Size: staged.Size, SHA256: staged.SHA256,
		Description: description}
	handle, err := s.Temporal.UpdateWorkflow(c.UserContext(), client.UpdateWorkflowOptions{
		WorkflowID:   order.WorkflowID(orderID),
		UpdateName:   string(order.ActionAddEvidence),
		Args:         []any{in},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		var st order.State
		err = handle.Get(c.UserContext(), &st)
	}
	if err != nil {
		s.uploadFailed(c, "workflow", err)
		// Refused or failed: the staged bytes must not outlive the request.
		// A fresh context, so a cancelled request still cleans up.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if derr := s.Storage.Delete(ctx, staged.Key); derr != nil {
			s.Logger.Error("Deleting a refused upload failed; the staging cleanup will remove it",
				"request_id", requestID(c), "key", staged.Key, "error", derr)
		}
		return fmt.Errorf("add evidence to order %d: %w", orderID, err)
	}
	ev, err := s.evidenceByID(c.UserContext(), orderID, in.EvidenceID)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(ev)
}

// sentFileName returns the filename parameter of the request's "file"
// part exactly as sent (RFC 2231 / 8187 encodings decoded). The body is
// already in memory; this only walks the part headers again.
func sentFileName(c *fiber.Ctx) (string, error) {
	malformed := ordem.Errorf(ordem.EInvalid, "the request must be multipart/form-data with one file in the field \"file\"")
	_, params, err := mime.ParseMediaType(string(c.Request().Header.ContentType()))
	if err != nil || params["boundary"] == "" {
		return "", malformed
	}
	r := multipart.NewReader(bytes.NewReader(c.Body()), params["boundary"])
	for {
		part, err := r.NextRawPart()
		if err != nil {
			return "", malformed
		}
		_, dp, err := mime.ParseMediaType(part.Header.Get("Content-Disposition"))
		if err != nil {
			continue
		}
		if name, ok := dp["filename"]; ok && dp["name"] == "file" {
			return name, nil
		}
	}
}

// evidenceOf is a recorded piece of evidence as the API shows it (never
// its object key).
func evidenceOf(r evidence.Row) Evidence {
	return Evidence{ID: r.ID, OrderID: id(r.OrderID), UploaderID: id(r.UploaderID), UploaderRole: r.UploaderRole,
		FileName: r.FileName, ContentType: r.ContentType, Size: r.Size, SHA256: r.SHA256, Description: r.Description,
		CreatedAt: r.CreatedAt}
}

func (s *Server) evidenceByID(ctx context.Context, orderID int64, evidenceID string) (Evidence, error) {
	r, err := evidence.OfOrder(ctx, s.Pool, orderID, evidenceID)
	return evidenceOf(r), err
}

// listEvidence lists an order's evidence for its parties and admins.
func (s *Server) listEvidence(c *fiber.Ctx) error {
	orderID, _, err := s.pathOrder(c)
	if err != nil {
		return err
	}
	list, err := evidence.List(c.UserContext(), s.Pool, orderID)
	if err != nil {
		return err
	}
	items := make([]Evidence, len(list))
	for i, r := range list {
		items[i] = evidenceOf(r)
	}
	return c.JSON(fiber.Map{"items": items})
}

// downloadEvidence answers with a presigned URL valid for a few minutes,
// served as an attachment, only to the order's parties and admins.
func (s *Server) downloadEvidence(c *fiber.Ctx) error {
	_, e, key, err := s.pathEvidence(c)
	if err != nil {
		return err
	}
	url, err := s.Storage.PresignGet(c.UserContext(), key, e.FileName, presignTTL)
	if err != nil {
		return fmt.Errorf("presign evidence %s: %w", e.ID, err)
	}
	return c.JSON(EvidenceDownload{Evidence: e, URL: url, ExpiresAt: s.now().Add(presignTTL).UTC().Truncate(time.Second)})
}

// pathEvidence finds the evidence named by the path (:id, :evidence_id)
// and its object key, for the order's parties and admins only (to anyone
// else the order, and so its evidence, is a 404).
func (s *Server) pathEvidence(c *fiber.Ctx) (orderID int64, e Evidence, key string, err error) {
	orderID, _, err = s.pathOrder(c)
	if err != nil {
		return 0, Evidence{}, "", err
	}
	r, err := evidence.OfOrder(c.UserContext(), s.Pool, orderID, c.Params("evidence_id"))
	if err != nil {
		return 0, Evidence{}, "", err
	}
	if s.Storage == nil {
		return 0, Evidence{}, "", errors.New("evidence storage is not configured")
	}
	return orderID, evidenceOf(r), r.ObjectKey, nil
}

// isUpload reports whether the request is an evidence upload, the one
// route whose body may exceed the JSON limit.
func isUpload(c *fiber.Ctx) bool {
	return c.Method() == fiber.MethodPost && strings.HasSuffix(strings.TrimSuffix(c.Path(), "/"), "/evidence") &&
		strings.HasPrefix(c.Path(), "/v1/orders/")
}
