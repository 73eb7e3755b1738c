package api

import "github.com/ordem/ordem/internal/input"

// checkLine validates a single-line text field (a name, title, reason,
// reference): at most max characters, no line breaks, tabs, other control
// characters or invisible text-direction controls, since such text ends up
// in e-mail subjects, notifications, log lines and the Temporal Web UI.
// With required, a blank value is refused.
func checkLine(f fieldErrors, field, v string, required bool, max int) {
	if msg := input.Line(v, max, required); msg != "" {
		f.add(field, msg)
	}
}

// checkMultiline validates a multi-line text field (a description, a
// note) as checkLine does, except that line breaks and tabs are allowed.
func checkMultiline(f fieldErrors, field, v string, required bool, max int) {
	if msg := input.Text(v, max, required); msg != "" {
		f.add(field, msg)
	}
}
