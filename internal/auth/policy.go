package auth

import (
	_ "embed"
	"strings"
	"unicode/utf8"

	"github.com/ordem/ordem"
)

// Password length bounds. The floor follows NIST SP 800-63B for
// user-chosen secrets; the ceiling only bounds the work of hashing.
const (
	MinPasswordLen = 8
	MaxPasswordLen = 1024 // bytes
)

// emailPartMin is the shortest part of an address before the @ that a
// password may not contain: shorter ones ("ana") are common in words.
const emailPartMin = 4

//go:embed common-passwords.txt
var commonList string

// common is the embedded list, lower-cased.
var common = func() map[string]bool {
	m := make(map[string]bool, 1100)
	for _, line := range strings.Split(commonList, "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			m[strings.ToLower(line)] = true
		}
	}
	return m
}()

// IsCommonPassword reports whether password is on the embedded list of the
// most common passwords (case-insensitively).
func IsCommonPassword(password string) bool { return common[strings.ToLower(password)] }

// CheckPasswordRules applies the password rules of registration, change
// and reset: at least MinPasswordLen characters (at most MaxPasswordLen
// bytes), not containing the account's e-mail address nor its part before
// the @ (when that part has emailPartMin characters or more), and not on
// the list of common passwords. A refusal is an *ordem.Error whose code
// names the rule, with the message under Fields["password"].
func CheckPasswordRules(password, email string) *ordem.Error {
	refuse := func(code, msg string) *ordem.Error {
		return &ordem.Error{Code: code, Message: "the password " + msg, Fields: map[string]string{"password": msg}}
	}
	if utf8.RuneCountInString(password) < MinPasswordLen {
		return refuse(ordem.EPasswordTooShort, "must have at least 8 characters")
	}
	if len(password) > MaxPasswordLen {
		return refuse(ordem.EPasswordTooLong, "must have at most 1024 bytes")
	}
	lower := strings.ToLower(password)
	email = strings.ToLower(strings.TrimSpace(email))
	if email != "" {
		local, _, _ := strings.Cut(email, "@")
		if strings.Contains(lower, email) || lower == local ||
			(utf8.RuneCountInString(local) >= emailPartMin && strings.Contains(lower, local)) {
			return refuse(ordem.EPasswordContainsEmail, "must not contain the e-mail address")
		}
	}
	if common[lower] {
		return refuse(ordem.EPasswordTooCommon, "is one of the most common passwords; choose another")
	}
	return nil
}
