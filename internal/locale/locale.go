// Package locale is how Ordem speaks to each user: the languages it has
// texts for, time zones, amounts in the deployment's currency and times in
// the user's zone, and the notification and e-mail texts, one embedded
// template file per language (templates/<locale>.tmpl).
package locale

import (
	"bytes"
	"embed"
	"fmt"
	"strings"
	"text/template"
	"time"
	// Zones must load wherever Ordem runs, the small container image
	// without /usr/share/zoneinfo included.
	_ "time/tzdata"

	"github.com/shopspring/decimal"
)

// The languages Ordem has texts for.
const (
	PtBR = "pt-BR"
	En   = "en"
	// Default is a new user's language.
	Default = PtBR
	// DefaultTimeZone is a new user's time zone.
	DefaultTimeZone = "America/Sao_Paulo"
)

// Supported lists every locale, the default first.
var Supported = []string{PtBR, En}

// Valid reports whether l is a supported locale, spelled exactly.
func Valid(l string) bool { return l == PtBR || l == En }

// ValidTimeZone reports whether name is an IANA time zone ("UTC",
// "America/Sao_Paulo"); "" and "Local" (the server's own) are not.
func ValidTimeZone(name string) bool {
	if name == "" || name == "Local" || len(name) > 64 {
		return false
	}
	_, err := time.LoadLocation(name)
	return err == nil
}

// FromAcceptLanguage returns the supported locale an Accept-Language
// header prefers ("pt", "pt-BR", "pt-PT" mean pt-BR; "en-US" means en),
// or "" when it names none. Weights (q) are honoured; q=0 excludes.
func FromAcceptLanguage(header string) string {
	best, bestQ := "", 0.0
	for _, part := range strings.Split(header, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		for _, p := range strings.Split(params, ";") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(p), "q="); ok {
				if _, err := fmt.Sscanf(v, "%g", &q); err != nil || q < 0 || q > 1 {
					q = 0
				}
			}
		}
		primary, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(tag)), "-")
		l := ""
		switch primary {
		case "pt":
			l = PtBR
		case "en":
			l = En
		}
		if l != "" && q > bestQ {
			best, bestQ = l, q
		}
	}
	return best
}

// symbols are the currency signs each language writes; other currencies
// are written with their ISO code.
var symbols = map[string]map[string]string{
	PtBR: {"BRL": "R$", "USD": "US$", "EUR": "€", "GBP": "£"},
	En:   {"BRL": "R$", "USD": "$", "EUR": "€", "GBP": "£"},
}

// FormatMoney writes amount in currency as locale writes money:
// pt-BR "R$ 1.234,56", en "R$1,234.56" (as the console's Intl does).
func FormatMoney(amount decimal.Decimal, currency, locale string) string {
	s := amount.StringFixed(2)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(s, ".")
	thousands, point := ",", "."
	if locale != En {
		thousands, point = ".", ","
	}
	var b strings.Builder
	for i, r := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteString(thousands)
		}
		b.WriteRune(r)
	}
	number := b.String() + point + frac
	sym, ok := symbols[locale][currency]
	if !ok {
		sym, ok = symbols[PtBR][currency]
	}
	out := currency + " " + number
	switch {
	case ok && locale == En:
		out = sym + number
	case ok:
		out = sym + " " + number
	}
	if neg {
		out = "-" + out
	}
	return out
}

// FormatTime writes t in zone as locale writes a date and time, with the
// zone's abbreviation: pt-BR "02/01/2026 15:04 (-03)", en
// "Jan 2, 2026 3:04 PM (-03)". An unknown zone is UTC.
func FormatTime(t time.Time, zone, locale string) string {
	loc, err := time.LoadLocation(zone)
	if err != nil || zone == "" || zone == "Local" {
		loc = time.UTC
	}
	layout := "02/01/2006 15:04 (MST)"
	if locale == En {
		layout = "Jan 2, 2006 3:04 PM (MST)"
	}
	return t.In(loc).Format(layout)
}

//go:embed templates/*.tmpl
var files embed.FS

// templates holds each locale's parsed template set; the functions are
// rebound per render (Texts.Render) to the reader's currency and zone.
var templates = func() map[string]*template.Template {
	out := map[string]*template.Template{}
	for _, l := range Supported {
		out[l] = template.Must(template.New(l).Funcs(funcs(Texts{})).Option("missingkey=zero").
			ParseFS(files, "templates/"+l+".tmpl"))
	}
	return out
}()

// Texts renders the notification and e-mail texts of one reader.
type Texts struct {
	// Locale is the reader's language (Default when not supported).
	Locale string
	// TimeZone is the reader's zone (UTC when unknown).
	TimeZone string
	// Currency is the deployment's currency (CURRENCY).
	Currency string
}

func funcs(x Texts) template.FuncMap {
	return template.FuncMap{
		// money writes an amount ("12.50" or a decimal) in the currency.
		"money": func(v any) string {
			d, err := toDecimal(v)
			if err != nil {
				return fmt.Sprint(v)
			}
			return FormatMoney(d, x.Currency, x.Locale)
		},
		// add sums amounts (e.g. a refund and the contestation fee returned).
		"add": func(vs ...any) string {
			sum := decimal.Zero
			for _, v := range vs {
				d, _ := toDecimal(v)
				sum = sum.Add(d)
			}
			return sum.StringFixed(2)
		},
		// when writes a time in the reader's zone ("" for none).
		"when": func(v any) string {
			switch t := v.(type) {
			case time.Time:
				return FormatTime(t, x.TimeZone, x.Locale)
			case *time.Time:
				if t != nil {
					return FormatTime(*t, x.TimeZone, x.Locale)
				}
			}
			return ""
		},
	}
}

func toDecimal(v any) (decimal.Decimal, error) {
	switch d := v.(type) {
	case decimal.Decimal:
		return d, nil
	case *decimal.Decimal:
		if d != nil {
			return *d, nil
		}
		return decimal.Zero, nil
	case string:
		return decimal.NewFromString(d)
	}
	return decimal.Zero, fmt.Errorf("not an amount: %T", v)
}

// Has reports whether kind has texts (every locale has the same kinds; a
// test checks).
func Has(kind string) bool { return templates[Default].Lookup(kind+".title") != nil }

// Render returns the title and body of a notification of kind for this
// reader, filled from vars; ok is false when kind has no template.
func (x Texts) Render(kind string, vars map[string]any) (title, body string, ok bool, err error) {
	if !Valid(x.Locale) {
		x.Locale = Default
	}
	set := templates[x.Locale]
	if set.Lookup(kind+".title") == nil {
		return "", "", false, nil
	}
	set, err = set.Clone()
	if err != nil {
		return "", "", false, fmt.Errorf("clone templates: %w", err)
	}
	set.Funcs(funcs(x))
	var out [2]bytes.Buffer
	for i, part := range []string{".title", ".body"} {
		if err := set.ExecuteTemplate(&out[i], kind+part, vars); err != nil {
			return "", "", false, fmt.Errorf("render %s%s (%s): %w", kind, part, x.Locale, err)
		}
	}
	return strings.TrimSpace(out[0].String()), strings.TrimSpace(out[1].String()), true, nil
}
