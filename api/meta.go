package api

import (
	"github.com/gofiber/fiber/v2"
)

// Meta is what a frontend needs to know about this deployment before (or
// without) signing in.
type Meta struct {
	// Currency is the deployment's one ISO 4217 currency (CURRENCY).
	Currency string `json:"currency"`
	// MaxUploadSize is the largest evidence file, in bytes (MAX_UPLOAD_SIZE).
	MaxUploadSize int64 `json:"max_upload_size"`
	// AllowedExtensions are the evidence file types (ALLOWED_EXTENSIONS).
	AllowedExtensions []string `json:"allowed_extensions"`
	// TemporalUIURL is the Temporal Web UI's base URL (TEMPORAL_UI_URL);
	// an order's workflow is at
	// <temporal_ui_url>/namespaces/<temporal_namespace>/workflows/<workflow_id>.
	TemporalUIURL     string `json:"temporal_ui_url"`
	TemporalNamespace string `json:"temporal_namespace"`
}

func (s *Server) mountMeta(r fiber.Router) {
	r.Get("/meta", s.meta)
}

// meta is public: it reveals configuration any user of the console sees.
func (s *Server) meta(c *fiber.Ctx) error {
	exts := s.Config.AllowedExtensions
	if exts == nil {
		exts = []string{}
	}
	return c.JSON(Meta{Currency: s.Config.Currency, MaxUploadSize: s.Config.MaxUploadSize, AllowedExtensions: exts,
		TemporalUIURL: s.Config.TemporalUIURL, TemporalNamespace: s.Config.TemporalNamespace})
}
