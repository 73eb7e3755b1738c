// Package evidence checks uploaded evidence files before anything is stored
// (spec §6): the original file name must be a plain, harmless name whose
// extension is allowed, and the file's first bytes (magic bytes) must match
// that extension.
//
// The checks are pure: they look only at the name and at the head of the
// file the caller already read, so the API can refuse a bad upload with a
// clear validation error before a single byte reaches the object store.
//
// Typical use in an upload handler:
//
//	ext, err := evidence.CheckName(fileName, cfg.AllowedExtensions)
//	head := make([]byte, evidence.HeadSize)
//	n, _ := io.ReadFull(body, head) // io.ErrUnexpectedEOF just means a small file
//	contentType, err := evidence.CheckContent(head[:n], ext)
//	// then stream io.MultiReader(bytes.NewReader(head[:n]), body) to storage.
//
// ParseID reads an evidence id from a request path, in its one canonical
// spelling.
//
// The package also owns the evidence table (store.go): the rows the
// add-evidence step records and the API reads, each function taking the
// caller's handle.
package evidence

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gabriel-vasile/mimetype"

	"github.com/ordem/ordem"
)

// HeadSize is how many leading bytes of a file CheckContent needs at most:
// the magic-byte detector looks at no more than this (mimetype's default
// read limit). Passing fewer bytes is fine for files that are shorter.
const HeadSize = 4096

// MaxNameBytes is the longest original file name accepted, in bytes (the
// usual file-system limit).
const MaxNameBytes = 255

// field is the key under which the refusals name the offending input in
// ordem.Error.Fields.
const field = "file"

// executable lists extensions of executables, scripts and documents that
// run code when opened. As the real (last) extension they are refused with
// an explicit message, whatever ALLOWED_EXTENSIONS says.
var executable = setOf(
	// server-side scripts
	"php", "php3", "php4", "php5", "php7", "php8", "phtml", "pht", "phps", "phar",
	"asp", "aspx", "ascx", "ashx", "asmx", "jsp", "jspx", "cfm", "cgi", "pl", "py", "pyc",
	"rb", "shtml", "shtm",
	// Windows and other executables, installers and shortcuts
	"exe", "dll", "com", "scr", "pif", "cpl", "msi", "msp", "mst", "msc", "ocx",
	"lnk", "url", "reg", "inf", "hta", "gadget", "appx", "msix", "appref-ms",
	"elf", "bin", "so", "dylib", "app", "dmg", "deb", "rpm", "apk", "jar", "war", "class",
	// command and script languages run by a double click
	"bat", "cmd", "sh", "bash", "zsh", "ksh", "csh", "command", "ps1", "psm1", "psd1",
	"vb", "vbs", "vbe", "js", "jse", "mjs", "cjs", "wsf", "wsh", "wsc", "sct", "scf",
	// documents a browser renders and runs scripts in
	"html", "htm", "xhtml", "svg", "svgz", "xsl", "xslt", "swf",
)

// hidden lists extensions refused anywhere inside a name, not only at the
// end: "x.php.jpg" is run as PHP by web servers that map handlers by any
// extension (Apache's AddHandler), and "x.exe.jpg" is an executable
// disguised for whoever saves and renames it. Words that are common in
// harmless names ("site.com.png", "vue.js.png", "manual.pl.pdf") are left
// out; such files are still checked by content.
var hidden = setOf(
	"php", "php3", "php4", "php5", "php7", "php8", "phtml", "pht", "phps", "phar",
	"asp", "aspx", "ashx", "asmx", "jsp", "jspx", "cfm", "cgi", "shtml",
	"exe", "dll", "scr", "pif", "cpl", "msi", "hta", "bat", "cmd", "ps1",
	"vbs", "vbe", "jse", "wsf", "wsh", "jar", "html", "htm", "xhtml", "svg",
)

// families lists extensions that name the same format: allowing one allows
// the others.
var families = [][]string{
	{"jpg", "jpeg", "jpe"},
	{"tif", "tiff"},
	{"heic", "heif"},
}

// kind describes what a file with a given extension must contain: the MIME
// types the detector may report for it and the canonical type stored and
// served for it.
type kind struct {
	label    string   // human description for messages
	accepted []string // detected MIME types accepted (exact, aliases included)
	stored   string   // Content-Type recorded and served
}

// kinds maps an extension (lower case, no dot) to its expected content.
// An allowed extension that is missing here is refused by CheckContent:
// there is no way to check such a file, so it is not accepted blindly.
var kinds = map[string]kind{
	"jpg":  {"a JPEG image", []string{"image/jpeg"}, "image/jpeg"},
	"jpeg": {"a JPEG image", []string{"image/jpeg"}, "image/jpeg"},
	"jpe":  {"a JPEG image", []string{"image/jpeg"}, "image/jpeg"},
	"png":  {"a PNG image", []string{"image/png"}, "image/png"},
	"gif":  {"a GIF image", []string{"image/gif"}, "image/gif"},
	"webp": {"a WebP image", []string{"image/webp"}, "image/webp"},
	"tif":  {"a TIFF image", []string{"image/tiff"}, "image/tiff"},
	"tiff": {"a TIFF image", []string{"image/tiff"}, "image/tiff"},
	"heic": {"a HEIC image", []string{"image/heic", "image/heif"}, "image/heic"},
	"heif": {"a HEIF image", []string{"image/heif", "image/heic"}, "image/heif"},
	"pdf":  {"a PDF document", []string{"application/pdf"}, "application/pdf"},
	// MP4 is the ISO base media file format: mimetype reports video/mp4 for
	// any ftyp box (isom, mp41, mp42, avc1, dash, iso2…) and more specific
	// types for some brands. The audio-only (F4A, MSNV…) and Apple M4V
	// brands are still .mp4 files; 3GPP, QuickTime, HEIC and AVIF are not.
	"mp4":  {"an MP4 video", []string{"video/mp4", "audio/mp4", "video/x-m4v"}, "video/mp4"},
	"m4v":  {"an M4V video", []string{"video/x-m4v", "video/mp4"}, "video/x-m4v"},
	"mov":  {"a QuickTime video", []string{"video/quicktime"}, "video/quicktime"},
	"webm": {"a WebM video", []string{"video/webm"}, "video/webm"},
	"mp3":  {"an MP3 audio file", []string{"audio/mpeg"}, "audio/mpeg"},
	"m4a":  {"an M4A audio file", []string{"audio/x-m4a", "audio/mp4"}, "audio/mp4"},
	"wav":  {"a WAV audio file", []string{"audio/wav"}, "audio/wav"},
	"ogg":  {"an Ogg file", []string{"audio/ogg", "video/ogg", "application/ogg"}, "application/ogg"},
}

// CheckName validates an uploaded file's original name against the allowed
// extensions (as in config ALLOWED_EXTENSIONS; case and a leading dot are
// ignored) and returns its extension in lower case, without the dot
// ("photo.JPG" → "jpg"). JPEG spellings are one family: allowing jpg
// allows jpeg and the other way round.
//
// It refuses, with an *ordem.Error of code validation_failed:
//   - empty names and names longer than MaxNameBytes bytes;
//   - invalid UTF-8, NUL, control characters and bidirectional-text
//     controls (which can disguise "gpj.exe" as "exe.jpg");
//   - path parts: '/', '\' and "..";
//   - names ending in a dot or a space, names with nothing before the
//     extension and names with no extension;
//   - any executable or script extension anywhere in the name, so double
//     extensions such as "x.jpg.php" and "x.php.jpg" are refused as such;
//   - an extension not in allowed.
func CheckName(name string, allowed []string) (string, error) {
	switch {
	case name == "" || strings.TrimSpace(name) == "":
		return "", refuse("is missing a file name", "The file name is empty.")
	case len(name) > MaxNameBytes:
		return "", refuse("has a file name that is too long",
			"The file name is %d bytes long; at most %d bytes are allowed.", len(name), MaxNameBytes)
	case !utf8.ValidString(name):
		return "", refuse("has an invalid file name", "The file name is not valid UTF-8 text.")
	}
	for _, r := range name {
		switch {
		case r == 0:
			return "", refuse("has an invalid file name", "The file name contains a NUL byte.")
		case unicode.IsControl(r):
			return "", refuse("has an invalid file name",
				"The file name contains the control character %U; only printable characters are allowed.", r)
		case isBidiControl(r):
			return "", refuse("has an invalid file name",
				"The file name contains the invisible text-direction character %U, which can disguise its real extension.", r)
		case r == '/' || r == '\\':
			return "", refuse("has an invalid file name",
				"The file name contains %q; send a plain file name without folders.", r)
		}
	}
	if strings.Contains(name, "..") {
		return "", refuse("has an invalid file name",
			`The file name contains ".."; send a plain file name without folders or consecutive dots.`)
	}
	if strings.HasSuffix(name, ".") || strings.HasSuffix(name, " ") {
		return "", refuse("has an invalid file name",
			"The file name ends with a dot or a space, which hides its real extension.")
	}

	dot := strings.LastIndexByte(name, '.')
	if dot < 0 {
		return "", refuse("has no file extension",
			"The file name %s has no extension; allowed extensions: %s.", strconv.Quote(name), list(allowed))
	}
	if strings.TrimSpace(name[:dot]) == "" {
		return "", refuse("has no file name before the extension",
			"The file name %s has nothing before its extension.", strconv.Quote(name))
	}
	ext := strings.ToLower(name[dot+1:])

	// Every dot-separated part after the first is an extension to some
	// program; the first part is the base name ("php.jpg" is a picture
	// called "php").
	parts := strings.Split(strings.ToLower(name), ".")
	for i := 1; i < len(parts)-1; i++ {
		if p := strings.TrimSpace(parts[i]); hidden[p] {
			return "", refuse("has a hidden executable or script extension",
				"The file name %s has a double extension: .%s is an executable or script type and is not allowed anywhere in the name.",
				strconv.Quote(name), p)
		}
	}
	if executable[ext] {
		if len(parts) > 2 {
			return "", refuse("has a hidden executable or script extension",
				"The file name %s has a double extension that hides an executable or script: its real extension is .%s, which is not allowed; allowed extensions: %s.",
				strconv.Quote(name), ext, list(allowed))
		}
		return "", refuse("has an extension that is not allowed",
			"Files with extension .%s (an executable or script type) are not allowed; allowed extensions: %s.", ext, list(allowed))
	}
	if !isAllowed(ext, allowed) {
		return "", refuse("has an extension that is not allowed",
			"Files with extension .%s are not allowed; allowed extensions: %s.", ext, list(allowed))
	}
	return ext, nil
}

// CheckContent checks the first bytes of a file (up to HeadSize; fewer for
// a smaller file) against its extension as returned by CheckName, and
// returns the Content-Type to record and serve for it ("image/jpeg",
// "video/mp4", …). It refuses empty content, content whose magic bytes do
// not match the extension (a PNG named .pdf, an executable or HTML page
// named .jpg) and extensions it cannot check.
func CheckContent(head []byte, ext string) (string, error) {
	ext = strings.ToLower(strings.TrimPrefix(ext, "."))
	k, ok := kinds[ext]
	if !ok {
		return "", refuse("has a type that cannot be checked",
			"Files with extension .%s cannot be checked against their content, so they are not accepted.", ext)
	}
	if len(head) == 0 {
		return "", refuse("is empty", "The file is empty.")
	}
	if len(head) > HeadSize {
		head = head[:HeadSize]
	}
	m := mimetype.Detect(head)
	for _, a := range k.accepted {
		if m.Is(a) {
			return k.stored, nil
		}
	}
	return "", refuse("content does not match its extension",
		"The file is named .%s but its content is %s, not %s.", ext, describe(m), k.label)
}

// describe names a detected type for a human, with the MIME type for
// support staff.
func describe(m *mimetype.MIME) string {
	t := m.String()
	if i := strings.IndexByte(t, ';'); i >= 0 {
		t = strings.TrimSpace(t[:i])
	}
	var what string
	switch {
	case m.Is("application/octet-stream"):
		return "not a recognised file type"
	case isA(m, "application/x-elf", "application/x-executable", "application/x-sharedlib",
		"application/x-object", "application/x-coredump", "application/x-mach-binary",
		"application/vnd.microsoft.portable-executable", "application/x-msdownload",
		"application/java-archive", "application/vnd.android.package-archive"):
		what = "an executable program"
	case isA(m, "text/html", "application/xhtml+xml", "image/svg+xml"):
		what = "a web page or script-capable document"
	case isA(m, "text/x-php", "text/javascript", "application/javascript", "text/x-shellscript",
		"text/x-python", "text/x-perl", "text/x-ruby", "text/x-lua", "text/x-tcl"):
		what = "a script"
	case strings.HasPrefix(t, "text/"):
		what = "text"
	default:
		if k, ok := kinds[strings.TrimPrefix(m.Extension(), ".")]; ok {
			what = k.label
		} else {
			what = "another file type"
		}
	}
	return fmt.Sprintf("%s (%s)", what, t)
}

func isA(m *mimetype.MIME, types ...string) bool {
	for _, t := range types {
		if m.Is(t) {
			return true
		}
	}
	return false
}

func isBidiControl(r rune) bool {
	switch {
	case r == '\u061C', r == '\u200E', r == '\u200F', r == '\uFEFF':
		return true
	case r >= '\u202A' && r <= '\u202E':
		return true
	case r >= '\u2066' && r <= '\u2069':
		return true
	}
	return false
}

func isAllowed(ext string, allowed []string) bool {
	for _, a := range allowed {
		a = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(a), "."))
		if a == ext {
			return true
		}
		for _, fam := range families {
			if contains(fam, a) && contains(fam, ext) {
				return true
			}
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func list(allowed []string) string {
	if len(allowed) == 0 {
		return "none"
	}
	out := make([]string, 0, len(allowed))
	for _, a := range allowed {
		out = append(out, strings.ToLower(strings.TrimPrefix(strings.TrimSpace(a), ".")))
	}
	return strings.Join(out, ", ")
}

func setOf(items ...string) map[string]bool {
	m := make(map[string]bool, len(items))
	for _, s := range items {
		m[s] = true
	}
	return m
}

// refuse builds the validation error: fieldMsg is the short phrase for
// Fields (as in {"file": "is empty"}), the formatted message the sentence
// shown to the user.
func refuse(fieldMsg, format string, args ...any) *ordem.Error {
	return &ordem.Error{
		Code:    ordem.EValidation,
		Message: fmt.Sprintf(format, args...),
		Fields:  map[string]string{field: fieldMsg},
	}
}
