package evidence_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/evidence"
)

// allowed is the default ALLOWED_EXTENSIONS.
var allowed = []string{"jpg", "jpeg", "png", "pdf", "mp4"}

func TestCheckNameAccepts(t *testing.T) {
	cases := map[string]string{
		"photo.jpg":                       "jpg",
		"PHOTO.JPG":                       "jpg",
		"Foto da entrega.Jpeg":            "jpeg",
		"recibo-2024.05.12.pdf":           "pdf",
		"tela.png":                        "png",
		"vídeo da obra.mp4":               "mp4",
		"php.jpg":                         "jpg", // a picture called "php"
		"site.com.png":                    "png", // harmless inner words are fine
		strings.Repeat("a", 251) + ".pdf": "pdf",
	}
	for name, want := range cases {
		ext, err := evidence.CheckName(name, allowed)
		if assert.NoError(t, err, name) {
			assert.Equal(t, want, ext, name)
		}
	}
}

func TestCheckNameJPEGFamily(t *testing.T) {
	ext, err := evidence.CheckName("a.jpeg", []string{"jpg"})
	require.NoError(t, err)
	assert.Equal(t, "jpeg", ext)
	ext, err = evidence.CheckName("a.JPG", []string{".JPEG"})
	require.NoError(t, err)
	assert.Equal(t, "jpg", ext)
	_, err = evidence.CheckName("a.png", []string{"jpg"})
	assertRefused(t, err, "not allowed")
}

func TestCheckNameRefuses(t *testing.T) {
	cases := []struct{ name, want string }{
		{"", "empty"},
		{"   ", "empty"},
		{strings.Repeat("a", 252) + ".pdf", "at most 255 bytes"},
		{"../etc/passwd.jpg", "folders"},
		{"..jpg", `".."`},
		{"a/b.jpg", `'/'`},
		{`C:\x\b.jpg`, `'\\'`},
		{"x\x00.jpg", "NUL"},
		{"x.jpg\x00.php", "NUL"},
		{"x\n.jpg", "control character"},
		{"x\t.jpg", "control character"},
		{"x\x1b[31m.jpg", "control character"},
		{"x\u0085.jpg", "control character"},
		{"invoice\u202Egpj.exe", "text-direction"},
		{"bad\xff.jpg", "UTF-8"},
		{"x.jpg.php", "double extension that hides an executable or script"},
		{"x.jpg.exe", "double extension that hides an executable or script"},
		{"x.php.jpg", ".php is an executable or script type"},
		{"x.PHTML.png", ".phtml is an executable or script type"},
		{"x.exe.pdf", ".exe is an executable or script type"},
		{"x.php", "executable or script type"},
		{"x.html", "executable or script type"},
		{"x.gif", ".gif are not allowed; allowed extensions: jpg, jpeg, png, pdf, mp4"},
		{"x.jpg.", "ends with a dot"},
		{"x.jpg ", "ends with a dot or a space"},
		{"noext", "has no extension"},
		{".jpg", "nothing before its extension"},
	}
	for _, c := range cases {
		ext, err := evidence.CheckName(c.name, allowed)
		assert.Empty(t, ext, "%q", c.name)
		assertRefused(t, err, c.want)
	}
}

func TestCheckContentAccepts(t *testing.T) {
	cases := []struct {
		ext, want string
		data      []byte
	}{
		{"jpg", "image/jpeg", jpegFile(t)},
		{"jpeg", "image/jpeg", jpegFile(t)},
		{"JPG", "image/jpeg", jpegFile(t)},
		{"png", "image/png", pngFile(t)},
		{"pdf", "application/pdf", pdfFile()},
		{"mp4", "video/mp4", mp4File("isom", "isom", "iso2", "avc1", "mp41")},
		{"mp4", "video/mp4", mp4File("mp42", "mp42", "isom")},
		{"mp4", "video/mp4", mp4File("M4V ", "M4V ", "mp42", "isom")},
		{"mp4", "video/mp4", mp4File("MSNV", "MSNV", "mp42")},
	}
	for _, c := range cases {
		got, err := evidence.CheckContent(c.data, c.ext)
		if assert.NoError(t, err, "%s %x", c.ext, c.data[:12]) {
			assert.Equal(t, c.want, got)
		}
	}
	// The caller may pass more than HeadSize bytes.
	big := append(pdfFile(), bytes.Repeat([]byte(" "), 2*evidence.HeadSize)...)
	got, err := evidence.CheckContent(big, "pdf")
	require.NoError(t, err)
	assert.Equal(t, "application/pdf", got)
}

func TestCheckContentRefuses(t *testing.T) {
	elf := elfFile()
	pe := append([]byte("MZ\x90\x00\x03\x00\x00\x00"), make([]byte, 120)...)
	cases := []struct {
		ext  string
		data []byte
		want string
	}{
		{"pdf", pngFile(t), "named .pdf but its content is a PNG image (image/png), not a PDF document"},
		{"jpg", elf, "an executable program (application/x-executable)"},
		{"jpg", pe, "an executable program"},
		{"jpg", []byte("<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"), "a web page"},
		{"jpg", []byte("<?php system($_GET['c']); ?>"), "(text/x-php)"},
		{"png", jpegFile(t), "a JPEG image (image/jpeg), not a PNG image"},
		{"mp4", pdfFile(), "not an MP4 video"},
		{"mp4", mp4File("qt  ", "qt  "), "video/quicktime"},
		{"mp4", mp4File("heic", "mif1", "heic"), "image/heic"},
		{"mp4", mp4File("3gp4", "3gp4", "isom"), "video/3gpp"},
		{"jpg", []byte{0xde, 0xad, 0xbe, 0xef, 0x00, 0x01}, "not a recognised file type"},
		{"jpg", nil, "empty"},
		{"jpg", []byte{}, "empty"},
		{"exe", elf, "cannot be checked"},
		{"docx", []byte("PK\x03\x04"), "cannot be checked"},
	}
	for _, c := range cases {
		got, err := evidence.CheckContent(c.data, c.ext)
		assert.Empty(t, got)
		assertRefused(t, err, c.want)
	}
}

// assertRefused checks err is a validation refusal whose message contains
// want and whose Fields name the file.
func assertRefused(t *testing.T, err error, want string) {
	t.Helper()
	var oe *ordem.Error
	if !assert.True(t, errors.As(err, &oe), "want *ordem.Error, got %v", err) {
		return
	}
	assert.Equal(t, ordem.EValidation, oe.Code)
	assert.Contains(t, oe.Message, want)
	assert.NotEmpty(t, oe.Fields["file"])
}

func testImage() image.Image {
	img := image.NewRGBA(image.Rect(0, 0, 2, 2))
	img.Set(0, 0, color.RGBA{255, 0, 0, 255})
	img.Set(1, 1, color.RGBA{0, 0, 255, 255})
	return img
}

func jpegFile(t *testing.T) []byte {
	var b bytes.Buffer
	require.NoError(t, jpeg.Encode(&b, testImage(), nil))
	return b.Bytes()
}

func pngFile(t *testing.T) []byte {
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

// mp4File is a minimal ISO base media file: an ftyp box with the given
// major brand and compatible brands, an empty moov box and a small mdat.
func mp4File(major string, compatible ...string) []byte {
	box := func(typ string, payload []byte) []byte {
		b := make([]byte, 8, 8+len(payload))
		binary.BigEndian.PutUint32(b, uint32(8+len(payload)))
		copy(b[4:], typ)
		return append(b, payload...)
	}
	ftyp := []byte(major)
	ftyp = binary.BigEndian.AppendUint32(ftyp, 0x200) // minor version
	for _, c := range compatible {
		ftyp = append(ftyp, c...)
	}
	mvhd := make([]byte, 100)                         // version 0 movie header, zeroed fields
	binary.BigEndian.PutUint32(mvhd[12:], 1000)       // timescale
	binary.BigEndian.PutUint32(mvhd[20:], 0x00010000) // rate 1.0
	binary.BigEndian.PutUint16(mvhd[24:], 0x0100)     // volume 1.0
	binary.BigEndian.PutUint32(mvhd[96:], 1)          // next track ID
	var out []byte
	out = append(out, box("ftyp", ftyp)...)
	out = append(out, box("moov", box("mvhd", mvhd))...)
	out = append(out, box("mdat", []byte("ordem"))...)
	return out
}

// elfFile is the header of a 64-bit little-endian x86-64 executable.
func elfFile() []byte {
	h := make([]byte, 64)
	copy(h, "\x7fELF")
	h[4], h[5], h[6] = 2, 1, 1                  // 64-bit, little endian, version 1
	binary.LittleEndian.PutUint16(h[16:], 2)    // e_type ET_EXEC
	binary.LittleEndian.PutUint16(h[18:], 0x3e) // e_machine x86-64
	binary.LittleEndian.PutUint32(h[20:], 1)    // e_version
	return h
}
