// Package input checks free text users send (titles, names, reasons,
// references, descriptions) before it is stored. Such text later reaches
// notifications, e-mails, webhook payloads, audit logs and the Temporal
// Web UI, so a single-line field must stay one line (no CR/LF injected
// into a subject or a log line) and no field may carry invisible
// text-direction controls that make it read differently from what it is
// (U+202E turns "gpj.exe" into "exe.jpg" on screen).
//
// The checks do no I/O. Each returns a short human message for the
// field's entry in a validation error ("must be a single line"), or ""
// when the value is acceptable:
//
//	if msg := input.Line(title, 200, true); msg != "" {
//		fields["title"] = msg
//	}
package input

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Line checks a single-line field: valid UTF-8 without NUL, C0 or C1
// control characters (CR, LF and TAB included), Unicode line or paragraph
// separators (U+2028, U+2029) or bidirectional-text controls, and at most
// maxRunes characters. With required, a value that is blank once spaces
// are trimmed is refused.
func Line(v string, maxRunes int, required bool) string {
	return check(v, maxRunes, required, false)
}

// Text checks a multi-line field (descriptions, notes): as Line, except
// that line feeds, carriage returns, tabs and the Unicode line and
// paragraph separators are allowed. Other control characters and the
// bidirectional-text controls are still refused.
func Text(v string, maxRunes int, required bool) string {
	return check(v, maxRunes, required, true)
}

func check(v string, maxRunes int, required, multiline bool) string {
	if !utf8.ValidString(v) {
		return "must be valid UTF-8 text"
	}
	if required && strings.TrimSpace(v) == "" {
		return "is required"
	}
	for _, r := range v {
		if msg := refuse(r, multiline); msg != "" {
			return msg
		}
	}
	if utf8.RuneCountInString(v) > maxRunes {
		return "must be at most " + strconv.Itoa(maxRunes) + " characters"
	}
	return ""
}

// refuse returns why r may not appear in a field, or "".
func refuse(r rune, multiline bool) string {
	switch {
	case r == '\n' || r == '\r' || r == '\u2028' || r == '\u2029':
		if multiline {
			return ""
		}
		return fmt.Sprintf("must be a single line (it contains the line break %U)", r)
	case r == '\t':
		if multiline {
			return ""
		}
		return "must not contain tabs"
	case r == 0:
		return "must not contain NUL characters"
	case unicode.IsControl(r): // C0, DEL and C1
		return fmt.Sprintf("must not contain the control character %U", r)
	case IsBidiControl(r):
		return fmt.Sprintf("must not contain the invisible text-direction character %U", r)
	}
	return ""
}

// IsBidiControl reports whether r is one of the invisible Unicode
// bidirectional-text controls: ARABIC LETTER MARK (U+061C), the
// LEFT-TO-RIGHT and RIGHT-TO-LEFT MARKs (U+200E, U+200F), the embeddings
// and overrides (U+202A–U+202E) and the isolates (U+2066–U+2069).
func IsBidiControl(r rune) bool {
	switch {
	case r == '\u061C', r == '\u200E', r == '\u200F':
		return true
	case r >= '\u202A' && r <= '\u202E':
		return true
	case r >= '\u2066' && r <= '\u2069':
		return true
	}
	return false
}
