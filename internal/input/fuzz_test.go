package input_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem/internal/input"
)

// forbidden is the package's documented rule, written out rune by rune so
// it shares no code with the checks: C0 and C1 controls and DEL, the
// bidirectional-text controls, and (for single lines) the line breaks and
// tabs that multi-line text allows.
func forbidden(r rune, multiline bool) bool {
	switch {
	case r == '\n', r == '\r', r == '\t', r == 0x2028, r == 0x2029:
		return !multiline
	case r < 0x20, r >= 0x7f && r <= 0x9f:
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

// acceptable is the oracle of Line (multiline false) and Text (true).
func acceptable(v string, max int, required, multiline bool) bool {
	if !utf8.ValidString(v) || (required && strings.TrimSpace(v) == "") || utf8.RuneCountInString(v) > max {
		return false
	}
	for _, r := range v {
		if forbidden(r, multiline) {
			return false
		}
	}
	return true
}

// FuzzText checks Line and Text against the oracle in both directions:
// what they accept has no control, line break (Line), text-direction
// control or invalid UTF-8 and fits the length; what they refuse breaks
// one of those rules. A single line is always acceptable text.
func FuzzText(f *testing.F) {
	for _, s := range []string{
		"", " ", "Reparo do telhado", "line\nbreak", "tab\there", "cr\r", "nul\x00", "del\x7f", "c1\u0085", "c1\u009f",
		"ls\u2028", "ps\u2029", "gpj\u202e.exe", "lrm\u200e", "alm\u061c", "iso\u2066x\u2069", "bom\ufeff", "zwj\u200d",
		"\xff\xfe", "\xed\xa0\x80", "日本語のタイトル", "emoji 👨‍👩‍👧", strings.Repeat("é", 200), strings.Repeat("é", 201),
		" \u00a0\u3000 ",
	} {
		f.Add(s, uint16(200), true)
		f.Add(s, uint16(3), false)
	}
	f.Fuzz(func(t *testing.T, v string, max uint16, required bool) {
		limit := int(max)
		line := input.Line(v, limit, required)
		text := input.Text(v, limit, required)
		require.Equal(t, acceptable(v, limit, required, false), line == "", "Line(%q, %d, %v) = %q", v, limit, required, line)
		require.Equal(t, acceptable(v, limit, required, true), text == "", "Text(%q, %d, %v) = %q", v, limit, required, text)
		if line == "" {
			require.Empty(t, text, "%q is a single line but not acceptable text", v)
		}
		// A refusal is a short phrase, never an echo of the input.
		for _, msg := range []string{line, text} {
			require.LessOrEqual(t, len(msg), 80, "message %q", msg)
			require.True(t, utf8.ValidString(msg), "message %q", msg)
		}
		require.Equal(t, input.IsBidiControl(firstRune(v)), isBidi(firstRune(v)))
	})
}

func firstRune(s string) rune {
	r, _ := utf8.DecodeRuneInString(s)
	return r
}

func isBidi(r rune) bool {
	return r == 0x061c || r == 0x200e || r == 0x200f || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)
}
