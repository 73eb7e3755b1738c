// Package logging builds Ordem's process logger: JSON lines (log/slog) at
// LOG_LEVEL on stderr and, when LOG_DIR is set, in rotated, compressed
// files: <service>.log (api.log, worker.log), <service>-errors.log with
// only the errors, and one file per concern the replaced system's
// operators grep (order operations, audit, critical, auto-confirmation;
// see Concern). Every record goes through Redact, so secrets never reach
// a log line whatever a caller passes.
package logging

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/ordem/ordem/internal/config"
)

// Options say where and what to log.
type Options struct {
	// Level is LOG_LEVEL: DEBUG, INFO, WARNING (WARN), ERROR or CRITICAL.
	Level string
	// Dir is LOG_DIR; empty logs to Stderr only.
	Dir string
	// MaxBytes is LOG_MAX_BYTES: a file is rotated when it would exceed it.
	MaxBytes int64
	// Backups is LOG_BACKUP_COUNT: rotated files kept per log file.
	Backups int
	// RetentionDays is LOG_RETENTION_DAYS: rotated files older than this
	// are deleted, whatever their count (0 keeps them by count only).
	RetentionDays int
	// Stderr receives every record too; nil is os.Stderr.
	Stderr io.Writer
}

// OptionsFromConfig takes the log settings of the process configuration.
func OptionsFromConfig(cfg *config.Config) Options {
	return Options{Level: cfg.LogLevel, Dir: cfg.LogDir, MaxBytes: cfg.LogMaxBytes, Backups: cfg.LogBackupCount,
		RetentionDays: cfg.LogRetentionDays}
}

// ParseLevel maps LOG_LEVEL to a slog level; CRITICAL is ERROR (slog has
// no higher level) and anything unknown is INFO (config already refuses
// unknown values).
func ParseLevel(s string) slog.Level {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "DEBUG":
		return slog.LevelDebug
	case "WARNING", "WARN":
		return slog.LevelWarn
	case "ERROR", "CRITICAL":
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

// Concern is a log file of its own under LOG_DIR, named
// <service>-<concern>.log, that receives the records carrying ConcernKey
// with its name, at INFO and above whatever LOG_LEVEL says (they are the
// operators' record, not diagnostics). Each replaces a file of the old
// system (docs/observability.md maps them).
type Concern string

// The concerns.
const (
	// OrderOperations: one line per order transition (order, from → to,
	// actor, amounts); the old order_operations.log.
	OrderOperations Concern = "order-operations"
	// Audit: every admin action with its reason, once committed; the old
	// audit.log.
	Audit Concern = "audit"
	// Critical: financial errors, ledger inconsistencies, failed postings;
	// the old erros_criticos.log.
	Critical Concern = "critical"
	// AutoConfirmation: orders released by their deadline, held by
	// AUTO_CONFIRM_JOB_ENABLED=false, and reminded; the old
	// auto-confirmation job's log.
	AutoConfirmation Concern = "auto-confirmation"
)

// AllConcerns lists every concern file.
var AllConcerns = []Concern{OrderOperations, Audit, Critical, AutoConfirmation}

// ConcernKey is the attribute that routes a record to concern files: its
// value is a comma-separated list of concerns (see Concerns).
const ConcernKey = "log_concern"

// Concerns is the ConcernKey value that sends a record to each of cs,
// for loggers that take key-value pairs (Temporal's activity logger).
func Concerns(cs ...Concern) string {
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = string(c)
	}
	return strings.Join(names, ",")
}

// ConcernAttr is the attribute that sends a record to each of cs.
func ConcernAttr(cs ...Concern) slog.Attr { return slog.String(ConcernKey, Concerns(cs...)) }

// New returns the logger of concern (e.g. "api", "worker") and a closer
// for its files. Each record carries "service": concern.
func New(concern string, o Options) (*slog.Logger, io.Closer, error) {
	level := ParseLevel(o.Level)
	stderr := o.Stderr
	if stderr == nil {
		stderr = os.Stderr
	}
	handlers := []slog.Handler{NewHandler(stderr, level)}
	var files multiCloser
	if o.Dir != "" {
		if err := os.MkdirAll(o.Dir, 0o750); err != nil {
			return nil, nil, fmt.Errorf("create LOG_DIR %s: %w", o.Dir, err)
		}
		all := rotated(filepath.Join(o.Dir, concern+".log"), o)
		errs := rotated(filepath.Join(o.Dir, concern+"-errors.log"), o)
		files = multiCloser{all, errs}
		// Opened now, so a directory that is not writable stops the process
		// at start-up instead of losing every line silently.
		for _, f := range files {
			if _, err := f.Write(nil); err != nil {
				return nil, nil, fmt.Errorf("open log file %s: %w", f.Filename, err)
			}
		}
		handlers = append(handlers, NewHandler(all, level), NewHandler(errs, max(level, slog.LevelError)))
		// Concern files are opened on their first line: a process that
		// never writes one (the API has no order transitions) leaves none.
		for _, c := range AllConcerns {
			f := rotated(filepath.Join(o.Dir, concern+"-"+string(c)+".log"), o)
			files = append(files, f)
			handlers = append(handlers, concernHandler{concern: c, inner: NewHandler(f, min(level, slog.LevelInfo))})
		}
	}
	return slog.New(Fanout(handlers...)).With("service", concern), files, nil
}

func rotated(path string, o Options) *lumberjack.Logger {
	// lumberjack counts megabytes; LOG_MAX_BYTES is bytes (the old
	// system's RotatingFileHandler unit), rounded up to a whole megabyte.
	mb := int((o.MaxBytes + (1<<20 - 1)) >> 20)
	if mb < 1 {
		mb = 1
	}
	// Rotated files are gzipped; they go when more than Backups exist or
	// when older than RetentionDays (the old guide keeps 30 days).
	return &lumberjack.Logger{Filename: path, MaxSize: mb, MaxBackups: o.Backups, MaxAge: o.RetentionDays, Compress: true}
}

// concernHandler passes on only the records that name its concern, in
// the record or in the logger's attributes (logger.With).
type concernHandler struct {
	concern Concern
	inner   slog.Handler
	named   bool // a With attribute names the concern
}

func (h concernHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h concernHandler) Handle(ctx context.Context, r slog.Record) error {
	named := h.named
	if !named {
		r.Attrs(func(a slog.Attr) bool {
			named = names(a, h.concern)
			return !named
		})
	}
	if !named {
		return nil
	}
	return h.inner.Handle(ctx, r)
}

func (h concernHandler) WithAttrs(as []slog.Attr) slog.Handler {
	named := h.named
	for _, a := range as {
		named = named || names(a, h.concern)
	}
	return concernHandler{concern: h.concern, inner: h.inner.WithAttrs(as), named: named}
}

func (h concernHandler) WithGroup(name string) slog.Handler {
	return concernHandler{concern: h.concern, inner: h.inner.WithGroup(name), named: h.named}
}

// names reports whether a is ConcernKey with c among its values.
func names(a slog.Attr, c Concern) bool {
	if a.Key != ConcernKey {
		return false
	}
	for _, v := range strings.Split(a.Value.String(), ",") {
		if Concern(strings.TrimSpace(v)) == c {
			return true
		}
	}
	return false
}

type multiCloser []*lumberjack.Logger

func (m multiCloser) Close() error {
	var errs []error
	for _, l := range m {
		errs = append(errs, l.Close())
	}
	return errors.Join(errs...)
}

// NewHandler is a JSON handler at level writing to w, with Redact.
func NewHandler(w io.Writer, level slog.Leveler) slog.Handler {
	return slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: Redact})
}

// Redacted replaces a secret's value.
const Redacted = "[REDACTED]"

// secretKeys are matched as substrings of the lower-cased attribute key,
// so "password", "new_password", "access_token", "Authorization" and
// "S3_SECRET_ACCESS_KEY" are all caught.
var secretKeys = []string{"password", "passwd", "token", "authorization", "secret", "cookie", "api_key", "apikey", "credential", "signature"}

// Redact is a slog ReplaceAttr: it blanks the value of any attribute whose
// key names a secret, the password of URLs (DATABASE_URL) and bearer
// credentials in string values.
func Redact(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindGroup {
		return a
	}
	k := strings.ToLower(a.Key)
	for _, s := range secretKeys {
		if strings.Contains(k, s) {
			return slog.String(a.Key, Redacted)
		}
	}
	switch a.Value.Kind() {
	case slog.KindString:
		if v, ok := redactString(a.Value.String()); ok {
			return slog.String(a.Key, v)
		}
	case slog.KindAny:
		// Errors are printed with Error(): one quoting a DSN or a header
		// is redacted like a string.
		if err, isErr := a.Value.Any().(error); isErr && err != nil {
			if v, ok := redactString(err.Error()); ok {
				return slog.String(a.Key, v)
			}
		}
	}
	return a
}

// redactString hides credentials a free-text value may carry.
func redactString(s string) (string, bool) {
	if i := strings.Index(strings.ToLower(s), "bearer "); i >= 0 {
		return s[:i] + "Bearer " + Redacted, true
	}
	if strings.Contains(s, "://") && strings.Contains(s, "@") {
		// A URL anywhere in the text (an error quoting a DSN): its
		// password is replaced, the rest kept for diagnosis.
		fields := strings.Fields(s)
		changed := false
		for i, f := range fields {
			if u, err := url.Parse(strings.Trim(f, `"'(),`)); err == nil && u.User != nil {
				if _, has := u.User.Password(); has {
					fields[i] = u.Redacted()
					changed = true
				}
			}
		}
		if changed {
			return strings.Join(fields, " "), true
		}
	}
	return s, false
}

// Fanout sends each record to every handler that is enabled for it.
func Fanout(hs ...slog.Handler) slog.Handler {
	if len(hs) == 1 {
		return hs[0]
	}
	return fanout(hs)
}

type fanout []slog.Handler

func (f fanout) Enabled(ctx context.Context, l slog.Level) bool {
	for _, h := range f {
		if h.Enabled(ctx, l) {
			return true
		}
	}
	return false
}

func (f fanout) Handle(ctx context.Context, r slog.Record) error {
	var errs []error
	for _, h := range f {
		if h.Enabled(ctx, r.Level) {
			errs = append(errs, h.Handle(ctx, r.Clone()))
		}
	}
	return errors.Join(errs...)
}

func (f fanout) WithAttrs(as []slog.Attr) slog.Handler {
	out := make(fanout, len(f))
	for i, h := range f {
		out[i] = h.WithAttrs(as)
	}
	return out
}

func (f fanout) WithGroup(name string) slog.Handler {
	out := make(fanout, len(f))
	for i, h := range f {
		out[i] = h.WithGroup(name)
	}
	return out
}
