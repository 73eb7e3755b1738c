package evidence

import "github.com/google/uuid"

// idLen is the length of an evidence id in its canonical form.
const idLen = 36

// ParseID reads an evidence id as the API shows it: a UUID in the
// canonical form, 36 lower-case hexadecimal digits and hyphens
// ("0b6f1c9e-3d2a-4c1e-9f8a-5e7d6c4b3a21"). uuid.Parse also takes the
// urn:uuid: prefix, braces, upper case and 32 digits without hyphens; an
// id is a path segment naming one object, so it has exactly one spelling
// and anything else is no such evidence (and never reaches Postgres, whose
// uuid input refuses some of those forms with an error).
func ParseID(s string) (uuid.UUID, bool) {
	if len(s) != idLen {
		return uuid.UUID{}, false
	}
	for i := 0; i < idLen; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return uuid.UUID{}, false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return uuid.UUID{}, false
			}
		}
	}
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.UUID{}, false
	}
	return id, true
}
