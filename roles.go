package ordem

// Role is what a user is allowed to do.
type Role string

// Roles of users, plus the system actor used by timers.
const (
	RoleClient   Role = "client"
	RoleProvider Role = "provider"
	RoleAdmin    Role = "admin"
	// RoleSystem is the actor of timer-driven transitions (auto-confirm,
	// expiry, reminders); no user has it.
	RoleSystem Role = "system"
)

// Valid reports whether r is a user role.
func (r Role) Valid() bool {
	return r == RoleClient || r == RoleProvider || r == RoleAdmin
}
