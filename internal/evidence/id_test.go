package evidence_test

import (
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem/internal/evidence"
)

func TestParseIDAcceptsTheCanonicalForm(t *testing.T) {
	for _, s := range []string{
		"0b6f1c9e-3d2a-4c1e-9f8a-5e7d6c4b3a21",
		"00000000-0000-0000-0000-000000000000",
		uuid.NewString(),
	} {
		id, ok := evidence.ParseID(s)
		require.True(t, ok, s)
		require.Equal(t, s, id.String(), "the id reads back as sent")
	}
}

func TestParseIDRefusesOtherSpellings(t *testing.T) {
	const id = "0b6f1c9e-3d2a-4c1e-9f8a-5e7d6c4b3a21"
	for name, s := range map[string]string{
		"urn prefix":           "urn:uuid:" + id,
		"braces":               "{" + id + "}",
		"no hyphens":           strings.ReplaceAll(id, "-", ""),
		"upper case":           strings.ToUpper(id),
		"one upper-case digit": "0B6f1c9e-3d2a-4c1e-9f8a-5e7d6c4b3a21",
		"hyphen moved":         "0b6f1c9e3-d2a-4c1e-9f8a-5e7d6c4b3a21",
		"not hex":              "0b6f1c9e-3d2a-4c1e-9f8a-5e7d6c4b3a2g",
		"trailing space":       id[:35] + " ",
		"leading space":        " " + id[1:],
		"too short":            id[:35],
		"too long":             id + "0",
		"empty":                "",
		"a number":             "42",
		"path traversal":       "../../../../etc/passwd/0000000000000",
		"non-ASCII digit":      "0b6f1c9e-3d2a-4c1e-9f8a-5e7d6c4b3a٢",
	} {
		got, ok := evidence.ParseID(s)
		require.False(t, ok, name)
		require.Equal(t, uuid.UUID{}, got, name)
	}
}
