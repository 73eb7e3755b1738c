package activities

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem/internal/webhook"
	"github.com/ordem/ordem/workflows/order"
)

// The transition table is plain strings (workflows/order does no I/O and
// imports none of the packages that define them): each must be a name
// its consumer knows.
func TestTransitionKindsAreKnownNames(t *testing.T) {
	for action, k := range order.TransitionKinds() {
		for _, typ := range k.Webhooks {
			require.True(t, webhook.ValidEventType(typ), "%s: webhook event type %q", action, typ)
		}
		require.NotEmpty(t, k.Notification, "%s: every transition tells someone", action)
	}
}
