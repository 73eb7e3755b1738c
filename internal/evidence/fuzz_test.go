package evidence_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/evidence"
)

// fuzzAllowed allows every extension the package can check, one it cannot
// ("txt") and executables an operator might list by mistake ("exe",
// "html"): whatever ALLOWED_EXTENSIONS says, those must still be refused.
var fuzzAllowed = []string{"jpg", ".PNG", " gif ", "webp", "tif", "heic", "pdf", "mp4", "m4v", "mov", "webm", "mp3",
	"m4a", "wav", "ogg", "txt", "exe", "html", "sh"}

// The refusal lists as the package documents them (a copy, so that
// shrinking them in evidence.go fails here).
var (
	executableExt = words(`php php3 php4 php5 php7 php8 phtml pht phps phar asp aspx ascx ashx asmx jsp jspx cfm cgi pl py pyc
		rb shtml shtm exe dll com scr pif cpl msi msp mst msc ocx lnk url reg inf hta gadget appx msix appref-ms elf bin so
		dylib app dmg deb rpm apk jar war class bat cmd sh bash zsh ksh csh command ps1 psm1 psd1 vb vbs vbe js jse mjs cjs
		wsf wsh wsc sct scf html htm xhtml svg svgz xsl xslt swf`)
	hiddenExt = words(`php php3 php4 php5 php7 php8 phtml pht phps phar asp aspx ashx asmx jsp jspx cfm cgi shtml exe dll
		scr pif cpl msi hta bat cmd ps1 vbs vbe jse wsf wsh jar html htm xhtml svg`)
	family = map[string]string{"jpeg": "jpg", "jpe": "jpg", "tiff": "tif", "heif": "heic"}
)

func words(s string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(s) {
		m[w] = true
	}
	return m
}

func allowedExt(ext string) bool {
	if canon, ok := family[ext]; ok {
		ext = canon
	}
	for _, a := range fuzzAllowed {
		if strings.ToLower(strings.TrimPrefix(strings.TrimSpace(a), ".")) == ext {
			return true
		}
	}
	return false
}

func isValidation(t *testing.T, err error) {
	t.Helper()
	var oe *ordem.Error
	require.True(t, errors.As(err, &oe), "refusal %v is an *ordem.Error", err)
	require.Equal(t, ordem.EValidation, oe.Code)
	require.NotEmpty(t, oe.Fields["file"])
}

// FuzzCheckName checks that a name CheckName accepts is a plain, printable
// file name with an allowed, non-executable extension and no executable
// extension hidden before it, and that the returned extension is the
// name's own, in lower case.
func FuzzCheckName(f *testing.F) {
	for _, s := range []string{
		"photo.jpg", "photo.JPG", "scan.jpeg", "x.tiff", "a.b.c.pdf", "php.jpg", "site.com.png", "manual.pl.pdf",
		"../x.jpg", "..\\x.jpg", "a/b.jpg", "a\\b.jpg", "x..jpg", "a.jpg\u202e.exe", "gpj\u202e.exe", "a\u200f.jpg", "a\ufeff.jpg",
		"x.php.jpg", "x.jpg.php", "x.PHP.jpg", "x. php .jpg", "x.php\u00a0.jpg", "x.exe", "x.html", "x.sh", "x.sh.jpg",
		".jpg", " .jpg", "x.jpg.", "x.jpg ", "x", "", " ", "x.txt", "x.\u212aSH", "nul\x00.jpg", "tab\t.jpg", "c1\u0085.jpg",
		"\xff.jpg", "x.jpg\u2028", "日本.png", strings.Repeat("a", 252) + ".pdf", strings.Repeat("a", 253) + ".pdf",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		ext, err := evidence.CheckName(name, fuzzAllowed)
		if err != nil {
			isValidation(t, err)
			require.Empty(t, ext)
			return
		}
		require.True(t, utf8.ValidString(name), "%q accepted", name)
		require.LessOrEqual(t, len(name), evidence.MaxNameBytes)
		for _, r := range name {
			require.False(t, r < 0x20 || (r >= 0x7f && r <= 0x9f), "%q accepted with control %U", name, r)
			require.False(t, r == 0x061c || r == 0x200e || r == 0x200f || r == 0xfeff || (r >= 0x202a && r <= 0x202e) ||
				(r >= 0x2066 && r <= 0x2069), "%q accepted with text-direction control %U", name, r)
		}
		require.False(t, strings.ContainsAny(name, `/\`), "%q accepted with a path separator", name)
		require.NotContains(t, name, "..", "%q accepted", name)
		require.False(t, strings.HasSuffix(name, ".") || strings.HasSuffix(name, " "), "%q accepted", name)

		dot := strings.LastIndexByte(name, '.')
		require.Positive(t, dot, "%q accepted without a base name and an extension", name)
		require.NotEmpty(t, strings.TrimSpace(name[:dot]), "%q accepted without a base name", name)
		require.Equal(t, strings.ToLower(name[dot+1:]), ext, "%q", name)
		require.True(t, allowedExt(ext), "%q accepted with extension %q", name, ext)
		require.False(t, executableExt[ext], "%q accepted with executable extension %q", name, ext)
		parts := strings.Split(strings.ToLower(name), ".")
		for _, p := range parts[1 : len(parts)-1] {
			require.False(t, hiddenExt[strings.TrimSpace(p)], "%q accepted with hidden extension %q", name, p)
		}
	})
}

// magic is what each checkable extension's file starts with, from the
// formats' specifications; an accepted upload must carry its extension's
// signature. PDF readers look for the header anywhere in the first KiB
// (PDF 1.7 annex H), which is what the detector does too.
func magic(ext string, h []byte) bool {
	at := func(off int, sig string) bool { return len(h) >= off+len(sig) && string(h[off:off+len(sig)]) == sig }
	isoBMFF := len(h) >= 12 && h[0] == 0 && at(4, "ftyp")
	switch ext {
	case "jpg", "jpeg", "jpe":
		return at(0, "\xff\xd8\xff")
	case "png":
		return at(0, "\x89PNG\r\n\x1a\n")
	case "gif":
		return at(0, "GIF87a") || at(0, "GIF89a")
	case "webp":
		return at(0, "RIFF") && at(8, "WEBP")
	case "tif", "tiff":
		return at(0, "II*\x00") || at(0, "MM\x00*")
	case "heic", "heif", "mp4", "m4v", "m4a":
		return isoBMFF
	case "mov":
		if len(h) < 12 {
			return false
		}
		for _, atom := range []string{"ftyp", "moov", "mdat", "free", "skip", "pnot", "wide"} {
			if at(4, atom) {
				return true
			}
		}
		return false
	case "pdf":
		return bytes.Contains(h[:min(len(h), 1024)], []byte("%PDF-"))
	case "webm":
		return at(0, "\x1a\x45\xdf\xa3")
	case "wav":
		return at(0, "RIFF") && at(8, "WAVE")
	case "ogg":
		return at(0, "OggS\x00")
	case "mp3":
		// An ID3 tag or an MPEG audio frame (11 sync bits) somewhere.
		if at(0, "ID3") {
			return true
		}
		for i := 0; i+1 < len(h); i++ {
			if h[i] == 0xff && h[i+1]&0xe0 == 0xe0 {
				return true
			}
		}
		return false
	}
	return false
}

// stored is the Content-Type recorded and served for each extension.
var stored = map[string]string{
	"jpg": "image/jpeg", "jpeg": "image/jpeg", "jpe": "image/jpeg", "png": "image/png", "gif": "image/gif",
	"webp": "image/webp", "tif": "image/tiff", "tiff": "image/tiff", "heic": "image/heic", "heif": "image/heif",
	"pdf": "application/pdf", "mp4": "video/mp4", "m4v": "video/x-m4v", "mov": "video/quicktime", "webm": "video/webm",
	"mp3": "audio/mpeg", "m4a": "audio/mp4", "wav": "audio/wav", "ogg": "application/ogg",
}

// FuzzCheckContent checks that content accepted for an extension carries
// that extension's magic bytes and is recorded with its one Content-Type,
// that only the first HeadSize bytes matter, and that extensions the
// package cannot check are always refused.
func FuzzCheckContent(f *testing.F) {
	seeds := map[string][]string{
		"jpg":  {"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "\xff\xd8", "<html>\xff\xd8\xff"},
		"png":  {"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "\x89PNG"},
		"gif":  {"GIF89a\x01\x00\x01\x00", "GIF90a"},
		"webp": {"RIFF\x24\x00\x00\x00WEBPVP8 ", "RIFF\x24\x00\x00\x00WAVEfmt "},
		"tif":  {"II*\x00\x08\x00\x00\x00", "MM\x00*\x00\x00\x00\x08"},
		"heic": {"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"},
		"pdf":  {"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "\xef\xbb\xbf%PDF-1.4", "<html><script>x</script>%PDF-1.4", "%PDF"},
		"mp4":  {"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41", "\x00\x00\x00\x18ftypqt  \x00\x00\x00\x00"},
		"mov":  {"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  ", "\x00\x00\x00\x08wide\x00\x00\x00\x00mdat"},
		"webm": {"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm"},
		"mp3":  {"ID3\x04\x00\x00\x00\x00\x00\x00", "\xff\xfb\x90\x64\x00\x00\x00\x00"},
		"m4a":  {"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00M4A mp42isom"},
		"wav":  {"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00"},
		"ogg":  {"OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00"},
		"txt":  {"hello"},
		"exe":  {"MZ\x90\x00\x03\x00\x00\x00"},
		"":     {"\x7fELF\x02\x01\x01"},
	}
	for ext, heads := range seeds {
		for _, h := range heads {
			f.Add([]byte(h), ext)
		}
	}
	f.Add([]byte{}, "jpg")
	f.Add(bytes.Repeat([]byte{0}, evidence.HeadSize+10), "mp3")
	f.Add([]byte("\xff\xd8\xff"), ".JPG")
	f.Fuzz(func(t *testing.T, head []byte, ext string) {
		ct, err := evidence.CheckContent(head, ext)
		again, errAgain := evidence.CheckContent(head, ext)
		require.Equal(t, ct, again, "deterministic")
		require.Equal(t, err == nil, errAgain == nil, "deterministic")
		if len(head) > evidence.HeadSize {
			prefix, errPrefix := evidence.CheckContent(head[:evidence.HeadSize], ext)
			require.Equal(t, ct, prefix, "only the first HeadSize bytes count")
			require.Equal(t, err == nil, errPrefix == nil, "only the first HeadSize bytes count")
		}
		if err != nil {
			isValidation(t, err)
			require.Empty(t, ct)
			return
		}
		e := strings.ToLower(strings.TrimPrefix(ext, "."))
		want, checkable := stored[e]
		require.True(t, checkable, "content accepted for uncheckable extension %q", ext)
		require.Equal(t, want, ct, "Content-Type of .%s", e)
		require.NotEmpty(t, head)
		require.True(t, magic(e, head[:min(len(head), evidence.HeadSize)]), "content %q accepted as .%s without its signature", head, e)
	})
}

// FuzzParseID checks that ParseID accepts exactly the strings
// uuid.UUID.String produces, each as the UUID it spells.
func FuzzParseID(f *testing.F) {
	for _, s := range []string{
		"0b6f1c9e-3d2a-4c1e-9f8a-5e7d6c4b3a21", "0B6F1C9E-3D2A-4C1E-9F8A-5E7D6C4B3A21", "{0b6f1c9e-3d2a-4c1e-9f8a-5e7d6c4b3a21}",
		"urn:uuid:0b6f1c9e-3d2a-4c1e-9f8a-5e7d6c4b3a21", "0b6f1c9e3d2a4c1e9f8a5e7d6c4b3a21", "00000000-0000-0000-0000-000000000000",
		"0b6f1c9e-3d2a-4c1e-9f8a-5e7d6c4b3a2", "0b6f1c9e-3d2a-4c1e-9f8a-5e7d6c4b3a21 ", "0b6f1c9e+3d2a-4c1e-9f8a-5e7d6c4b3a21",
		"0b6f1c9e-3d2a-4c1e-9f8a-5e7d6c4b3g21", "", "../../etc/passwd",
	} {
		f.Add(s, []byte(s))
	}
	f.Fuzz(func(t *testing.T, s string, raw []byte) {
		id, ok := evidence.ParseID(s)
		if ok {
			require.Equal(t, s, id.String(), "%q accepted", s)
		} else {
			require.Equal(t, uuid.UUID{}, id)
			if u, err := uuid.Parse(s); err == nil {
				require.NotEqual(t, s, u.String(), "canonical %q refused", s)
			}
		}
		// Every UUID's canonical spelling is accepted as itself.
		var u uuid.UUID
		copy(u[:], raw)
		back, ok := evidence.ParseID(u.String())
		require.True(t, ok, "%s refused", u)
		require.Equal(t, u, back)
	})
}
