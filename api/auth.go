package api

import (
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/accounts"
	"github.com/ordem/ordem/internal/auth"
	"github.com/ordem/ordem/internal/input"
	"github.com/ordem/ordem/internal/ledger"
	"github.com/ordem/ordem/internal/locale"
	"github.com/ordem/ordem/internal/postgres"
)

// User is a user as the API shows it.
type User struct {
	ID    string     `json:"id"`
	Name  string     `json:"name"`
	Email string     `json:"email"`
	Phone string     `json:"phone"`
	Role  ordem.Role `json:"role"`
	// Locale (pt-BR or en) and TimeZone (IANA) are the language and zone
	// of the texts Ordem sends the user; PATCH /v1/me changes them.
	Locale    string     `json:"locale"`
	TimeZone  string     `json:"time_zone"`
	CreatedAt time.Time  `json:"created_at"`
	DeletedAt *time.Time `json:"deleted_at,omitempty"`
}

// userOf is the API's view of a stored user.
func userOf(u accounts.User) User {
	return User{ID: id(u.ID), Name: u.Name, Email: u.Email, Phone: u.Phone, Role: u.Role, Locale: u.Locale, TimeZone: u.TimeZone,
		CreatedAt: u.CreatedAt, DeletedAt: u.DeletedAt}
}

// principal is the authenticated caller.
type principal struct {
	ID   int64
	Role ordem.Role
	User User
	// SessionID is the id of the session the bearer token opened (0 on
	// the login response, before any session is used).
	SessionID int64
}

const principalKey = "principal"

// caller returns the authenticated user (set by authenticate).
func caller(c *fiber.Ctx) *principal {
	p, _ := c.Locals(principalKey).(*principal)
	return p
}

var errUnauthenticated = ordem.Errorf(ordem.EUnauthenticated, "a valid bearer token is required")

// authenticate resolves the bearer token to a live session of a live user.
func (s *Server) authenticate(c *fiber.Ctx) error {
	// Route groups sharing a prefix (/v1/admin) each run this middleware;
	// the session is looked up once per request.
	if caller(c) != nil {
		return c.Next()
	}
	h := c.Get(fiber.HeaderAuthorization)
	token, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || token == "" || len(token) > 200 {
		return errUnauthenticated
	}
	now := s.now()
	sess, u, found, err := accounts.FindSession(c.UserContext(), s.Pool, auth.HashToken(token), now)
	if err != nil {
		return err
	}
	if !found {
		return errUnauthenticated
	}
	if err := s.touchSession(c, sess.ID, sess.LastSeenAt, now); err != nil {
		return err
	}
	c.Locals(principalKey, &principal{ID: u.ID, Role: u.Role, User: userOf(u), SessionID: sess.ID})
	return c.Next()
}

// requireRole lets only the given roles through.
func requireRole(roles ...ordem.Role) fiber.Handler {
	return func(c *fiber.Ctx) error {
		p := caller(c)
		for _, r := range roles {
			if p != nil && p.Role == r {
				return c.Next()
			}
		}
		return ordem.Errorf(ordem.EForbidden, "this action needs the %s role", roles[0])
	}
}

func (s *Server) mountAuth(r, admin fiber.Router) {
	r.Post("/auth/register", s.register)
	r.Post("/auth/login", s.login)
	r.Post("/auth/logout", s.authenticate, s.logout)
	r.Get("/me", s.authenticate, s.me)
	r.Patch("/me", s.authenticate, s.updateMe)
	admin.Get("/users", s.listUsers)
	admin.Delete("/users/:id", s.deleteUser)
	s.mountAccount(r, admin)
}

type registerRequest struct {
	Name     string     `json:"name"`
	Email    string     `json:"email"`
	Phone    string     `json:"phone"`
	Password string     `json:"password"`
	Role     ordem.Role `json:"role"`
	// Locale and TimeZone are optional (pt-BR, America/Sao_Paulo).
	Locale   string `json:"locale"`
	TimeZone string `json:"time_zone"`
}

func (r *registerRequest) validate() error {
	f := fieldErrors{}
	r.Name = strings.TrimSpace(r.Name)
	r.Email = strings.ToLower(strings.TrimSpace(r.Email))
	r.Phone = strings.TrimSpace(r.Phone)
	// The name heads e-mails and notifications: one line, no invisible
	// text-direction controls.
	checkLine(f, "name", r.Name, true, 200)
	// net/mail takes any non-ASCII rune, invisible text-direction
	// controls included, so the address gets the single-line check too.
	if addr, err := mail.ParseAddress(r.Email); err != nil || addr.Address != r.Email || len(r.Email) > 320 ||
		input.Line(r.Email, 320, true) != "" {
		f.add("email", "must be a valid e-mail address")
	}
	checkLine(f, "phone", r.Phone, false, 40)
	pwErr := auth.CheckPasswordRules(r.Password, r.Email)
	if pwErr != nil {
		f.add("password", pwErr.Fields["password"])
	}
	if r.Role != ordem.RoleClient && r.Role != ordem.RoleProvider {
		f.add("role", "must be client or provider")
	}
	if r.Locale == "" {
		r.Locale = locale.Default
	}
	if r.TimeZone == "" {
		r.TimeZone = locale.DefaultTimeZone
	}
	checkPeople(f, &r.Locale, &r.TimeZone)
	// A password broken alone gets its rule's own code; with other
	// fields wrong too, the general one naming them all.
	if pwErr != nil && len(f) == 1 {
		return pwErr
	}
	return f.err()
}

func (s *Server) register(c *fiber.Ctx) error {
	var req registerRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if err := req.validate(); err != nil {
		return err
	}
	hash, err := auth.HashPassword(req.Password)
	if err != nil {
		return err
	}
	var u accounts.User
	err = postgres.InTx(c.UserContext(), s.Pool, func(tx pgx.Tx) error {
		u, err = accounts.Create(c.UserContext(), tx, accounts.NewUser{Name: req.Name, Email: req.Email, Phone: req.Phone,
			PasswordHash: hash, Role: req.Role, Locale: req.Locale, TimeZone: req.TimeZone})
		if err != nil {
			return err
		}
		// A user has their wallet accounts from the start: postings never
		// have to create one.
		if _, err := ledger.OpenUserAccounts(c.UserContext(), tx, u.ID); err != nil {
			return fmt.Errorf("open accounts of user %d: %w", u.ID, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(userOf(u))
}

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// LoginResponse is the answer to a successful login.
type LoginResponse struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
	User      User      `json:"user"`
}

// dummyHash is checked when the e-mail is unknown, so a login takes the
// same time whether or not the account exists.
var dummyHash, _ = auth.HashPassword("ordem-timing-equaliser")

func (s *Server) login(c *fiber.Ctx) error {
	var req loginRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	email := strings.ToLower(strings.TrimSpace(req.Email))
	if len(email) > 320 {
		// No account has such an address; nothing to count it against.
		return ordem.Errorf(ordem.EUnauthenticated, "wrong e-mail or password")
	}
	// Per-account throttling before the password is even checked: a
	// locked or slowed-down account answers 429 whatever the password.
	if err := s.throttleGate(c.UserContext(), email); err != nil {
		return err
	}
	stored, hash, found, err := accounts.FindLogin(c.UserContext(), s.Pool, email)
	if err != nil {
		return err
	}
	if !found {
		hash = dummyHash
	}
	ok, err := auth.CheckPassword(req.Password, hash)
	if err != nil {
		return err
	}
	if !found || !ok {
		if err := s.throttleFailed(c.UserContext(), email, c.IP()); err != nil {
			return err
		}
		return ordem.Errorf(ordem.EUnauthenticated, "wrong e-mail or password")
	}
	if err := s.throttleSucceeded(c.UserContext(), email); err != nil {
		return err
	}
	token, tokenHash := auth.NewToken()
	expires := s.now().Add(s.Config.SessionLifetime).UTC().Truncate(time.Second)
	if err := accounts.CreateSession(c.UserContext(), s.Pool, accounts.NewSession{TokenHash: tokenHash, UserID: stored.ID,
		ExpiresAt: expires, UserAgent: truncate(c.Get(fiber.HeaderUserAgent), 300), IP: c.IP()}); err != nil {
		return err
	}
	u := userOf(stored)
	// The caller is now known: the access log names who logged in.
	c.Locals(principalKey, &principal{ID: stored.ID, Role: u.Role, User: u})
	return c.JSON(LoginResponse{Token: token, ExpiresAt: expires, User: u})
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

func (s *Server) logout(c *fiber.Ctx) error {
	token := strings.TrimPrefix(c.Get(fiber.HeaderAuthorization), "Bearer ")
	if err := accounts.RevokeToken(c.UserContext(), s.Pool, auth.HashToken(token), s.now()); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Server) me(c *fiber.Ctx) error {
	return c.JSON(caller(c).User)
}

func (s *Server) listUsers(c *fiber.Ctx) error {
	page, err := parsePage(c)
	if err != nil {
		return err
	}
	role := c.Query("role")
	if role != "" && !ordem.Role(role).Valid() {
		return (fieldErrors{"role": "must be client, provider or admin"}).err()
	}
	// One more than the page: pageOf tells from it whether a next exists.
	items, err := accounts.List(c.UserContext(), s.Pool, role, page.after, page.afterID, page.limit+1)
	if err != nil {
		return err
	}
	return c.JSON(pageOf(items, page.limit, func(u accounts.User) (time.Time, int64) { return u.CreatedAt, u.ID }, userOf))
}
