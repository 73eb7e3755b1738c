package api

import (
	"github.com/gofiber/fiber/v2"

	"github.com/ordem/ordem/internal/accounts"
	"github.com/ordem/ordem/internal/locale"
)

// checkPeople validates a locale and a time zone (spec §8): the locale is
// one Ordem has texts for, spelled exactly; the zone is an IANA zone Go's
// time zone database knows (time.LoadLocation).
func checkPeople(f fieldErrors, l, zone *string) {
	if l != nil && !locale.Valid(*l) {
		f.add("locale", "must be pt-BR or en")
	}
	if zone != nil && !locale.ValidTimeZone(*zone) {
		f.add("time_zone", "must be an IANA time zone such as America/Sao_Paulo")
	}
}

type updateMeRequest struct {
	Locale   *string `json:"locale"`
	TimeZone *string `json:"time_zone"`
}

// updateMe changes the caller's own locale and time zone; a field left out
// stays as it is, and a refused request changes nothing.
func (s *Server) updateMe(c *fiber.Ctx) error {
	p := caller(c)
	var req updateMeRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	f := fieldErrors{}
	checkPeople(f, req.Locale, req.TimeZone)
	if err := f.err(); err != nil {
		return err
	}
	u := p.User
	var err error
	u.Locale, u.TimeZone, err = accounts.SetPreferences(c.UserContext(), s.Pool, p.ID, req.Locale, req.TimeZone, s.now())
	if err != nil {
		return err
	}
	return c.JSON(u)
}
