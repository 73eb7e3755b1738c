package input_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem/internal/input"
)

// accepted is text both checks take: a single line of ordinary Unicode.
var accepted = []string{
	"",
	"Conserto do telhado",
	"Pagamento PIX — referência 2024/05",
	"Ação: trocar 3 telhas (R$ 150,00) ✓",
	"日本語のタイトル",
	"عنوان عربي", // right-to-left script without any control
	"emoji 🚀 and a zero-width joiner 👩\u200d🔧",
	strings.Repeat("á", 10), // exactly the limit, counted in characters
}

func TestLine(t *testing.T) {
	for _, v := range accepted {
		require.Empty(t, input.Line(v, 10_000, false), "%q", v)
	}
	require.Empty(t, input.Line(strings.Repeat("á", 10), 10, true), "the limit counts characters, not bytes")

	cases := []struct {
		name     string
		v        string
		required bool
		want     string // a part of the message
	}{
		{"blank required", "", true, "is required"},
		{"spaces only, required", "   ", true, "is required"},
		{"line feed", "title\nBcc: victim@example.com", false, "single line"},
		{"carriage return", "title\rinjected", false, "single line"},
		{"CRLF", "a\r\nb", false, "single line"},
		{"line separator", "a\u2028b", false, "single line"},
		{"paragraph separator", "a\u2029b", false, "single line"},
		{"tab", "a\tb", false, "tabs"},
		{"NUL", "a\x00b", false, "NUL"},
		{"escape", "a\x1b[31mred", false, "control character U+001B"},
		{"DEL", "a\x7fb", false, "control character U+007F"},
		{"C1 NEL", "a\u0085b", false, "control character U+0085"},
		{"C1 CSI", "a\u009bb", false, "control character U+009B"},
		{"right-to-left override", "invoice\u202Efdp.exe", false, "text-direction character U+202E"},
		{"left-to-right embedding", "a\u202Ab", false, "U+202A"},
		{"pop directional formatting", "a\u202Cb", false, "U+202C"},
		{"arabic letter mark", "a\u061Cb", false, "U+061C"},
		{"left-to-right mark", "a\u200Eb", false, "U+200E"},
		{"right-to-left mark", "a\u200Fb", false, "U+200F"},
		{"left-to-right isolate", "a\u2066b", false, "U+2066"},
		{"pop directional isolate", "a\u2069b", false, "U+2069"},
		{"invalid UTF-8", "caf\xe9", false, "valid UTF-8"},
		{"truncated UTF-8", "a\xe2\x80", false, "valid UTF-8"},
		{"too long", strings.Repeat("a", 11), false, "at most 10 characters"},
		{"too long in characters", strings.Repeat("á", 11), false, "at most 10 characters"},
	}
	for _, c := range cases {
		got := input.Line(c.v, 10, c.required)
		require.NotEmpty(t, got, c.name)
		require.Contains(t, got, c.want, c.name)
	}
}

func TestText(t *testing.T) {
	for _, v := range accepted {
		require.Empty(t, input.Text(v, 10_000, false), "%q", v)
	}
	for _, v := range []string{
		"first line\nsecond line",
		"windows\r\nline ends",
		"old mac\rline end",
		"a\ttable\tof\tvalues",
		"unicode\u2028line and\u2029paragraph",
		"\n\n  indented\n",
	} {
		require.Empty(t, input.Text(v, 10_000, false), "%q", v)
	}

	cases := []struct {
		name     string
		v        string
		required bool
		want     string
		max      int // 0: no practical limit
	}{
		{"blank required", "", true, "is required", 0},
		{"whitespace only, required", " \n\t\r\n", true, "is required", 0},
		{"NUL", "a\x00b", false, "NUL", 0},
		{"bell", "a\x07b", false, "control character U+0007", 0},
		{"vertical tab", "a\x0bb", false, "control character U+000B", 0},
		{"form feed", "a\x0cb", false, "control character U+000C", 0},
		{"escape", "a\x1b]8;;http://evil\x07", false, "control character U+001B", 0},
		{"DEL", "a\x7f", false, "control character U+007F", 0},
		{"C1", "a\u0090b", false, "control character U+0090", 0},
		{"right-to-left override", "line\n\u202Etxet", false, "U+202E", 0},
		{"first strong isolate", "a\u2068b", false, "U+2068", 0},
		{"arabic letter mark", "\u061C", false, "U+061C", 0},
		{"invalid UTF-8", "a\xffb", false, "valid UTF-8", 0},
		{"too long", "ab\ncd", false, "at most 4 characters", 4},
	}
	for _, c := range cases {
		limit := c.max
		if limit == 0 {
			limit = 10_000
		}
		got := input.Text(c.v, limit, c.required)
		require.NotEmpty(t, got, c.name)
		require.Contains(t, got, c.want, c.name)
	}
}

func TestIsBidiControl(t *testing.T) {
	for _, r := range []rune{0x061C, 0x200E, 0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069} {
		require.True(t, input.IsBidiControl(r), "%U", r)
	}
	for _, r := range []rune{'a', ' ', 0x200D, 0x2029, 0x2065, 0x206A, 0x202F, 0x0627, 0x061B} {
		require.False(t, input.IsBidiControl(r), "%U", r)
	}
}
