package api

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/gofiber/fiber/v2"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/storage"
)

// evidenceContentCSP keeps a served file from running anything: a PDF or
// an image opened straight from this URL is a sandboxed document (unique
// origin, no scripts, no forms, no plugins) that may load nothing.
const evidenceContentCSP = "sandbox; default-src 'none'"

// evidenceContent streams a piece of evidence's bytes from the bucket,
// same-origin, to the order's parties and admins (the same lookup as the
// download link: others' evidence is a 404). The console previews files
// from it without the bucket's origin in its CSP. The response is the
// recorded (checked at upload) type, inline, never sniffed, never cached,
// and sandboxed.
func (s *Server) evidenceContent(c *fiber.Ctx) error {
	orderID, e, key, err := s.pathEvidence(c)
	if err != nil {
		return err
	}
	if e.Size > s.Config.MaxUploadSize {
		return ordem.Errorf(ordem.ETooLarge, "the file is %d bytes, over the preview limit of %d bytes; use the download link",
			e.Size, s.Config.MaxUploadSize)
	}
	// The body streams after the handler returns: the request's context
	// would end too early, so the object is read under a context of its
	// own; a client that goes away fails the write, which closes it.
	obj, err := s.Storage.Open(context.WithoutCancel(c.UserContext()), key)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("evidence %s of order %d is recorded but its object %s is missing: %w", e.ID, orderID, key, err)
		}
		return fmt.Errorf("open evidence %s of order %d: %w", e.ID, orderID, err)
	}
	if obj.Size != e.Size {
		obj.Body.Close()
		return fmt.Errorf("evidence %s of order %d: the object %s has %d bytes, %d were recorded", e.ID, orderID, key, obj.Size, e.Size)
	}
	h := &c.Response().Header
	h.Set(fiber.HeaderContentType, e.ContentType)
	h.Set(fiber.HeaderContentDisposition, storage.InlineContentDisposition(e.FileName))
	h.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	h.Set(fiber.HeaderCacheControl, "private, no-store")
	h.Set(fiber.HeaderContentSecurityPolicy, evidenceContentCSP)
	c.Status(fiber.StatusOK)
	// Streamed as it comes, never more than the recorded size (itself at
	// most MAX_UPLOAD_SIZE); fasthttp closes the body when it is done.
	c.Response().SetBodyStream(limitedBody{Reader: io.LimitReader(obj.Body, e.Size), Closer: obj.Body}, int(e.Size))
	return nil
}

// limitedBody reads a bounded prefix of a body and closes the whole body.
type limitedBody struct {
	io.Reader
	io.Closer
}
