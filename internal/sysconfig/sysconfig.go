// Package sysconfig is the admin-editable system configuration (spec §5):
// the known keys, their defaults and validation, and reading them from
// Postgres. Orders snapshot these values when they are created.
package sysconfig

import (
	"context"
	"fmt"

	"github.com/shopspring/decimal"

	"github.com/ordem/ordem/internal/money"
	"github.com/ordem/ordem/internal/postgres"
)

// Keys of the system configuration.
const (
	PlatformFeePercentage     = "platform_fee_percentage"
	ContestationFee           = "contestation_fee"
	CancellationFeePercentage = "cancellation_fee_percentage"
	ConfirmationDeadlineHours = "confirmation_deadline_hours"
	ProposalExpiryHours       = "proposal_expiry_hours"
	ConfirmationReminderHours = "confirmation_reminder_hours"
	DisputeSLAHours           = "dispute_sla_hours"
	DisputeNegotiationHours   = "dispute_negotiation_hours"
	MaxRevisions              = "max_revisions"
)

// Key describes one configuration key.
type Key struct {
	Name        string
	Default     string
	Description string
	Category    string
	validate    func(decimal.Decimal) error
}

// Validate checks a proposed value for the key.
func (k Key) Validate(value string) (decimal.Decimal, error) {
	d, err := decimal.NewFromString(value)
	if err != nil {
		return decimal.Decimal{}, fmt.Errorf("%s must be a decimal number", k.Name)
	}
	if err := k.validate(d); err != nil {
		return decimal.Decimal{}, fmt.Errorf("%s: %w", k.Name, err)
	}
	return d, nil
}

// percentage allows four decimal places, what an order's snapshot column
// keeps, so the terms an order stores are exactly the terms it charges.
func percentage(d decimal.Decimal) error {
	if d.Exponent() < -4 && !d.Equal(d.Truncate(4)) {
		return fmt.Errorf("must have at most four decimal places")
	}
	return money.ValidatePercentage(d)
}

// cents is the contestation fee: held on top of an order's amount, so it
// is bounded like one (money.MaxOrderAmount).
func cents(d decimal.Decimal) error {
	if d.IsNegative() || !money.HasCents(d) || d.GreaterThan(money.MaxOrderAmount) {
		return fmt.Errorf("must be an amount of zero or more with at most two decimal places, at most %s",
			money.MaxOrderAmount.StringFixed(money.Scale))
	}
	return nil
}

// hours accepts fractions so tests and demos can use seconds (0.001 h is
// 3.6 s); a year is the ceiling.
func hours(d decimal.Decimal) error {
	if !d.IsPositive() || d.GreaterThan(decimal.NewFromInt(8760)) || d.Exponent() < -6 {
		return fmt.Errorf("must be a number of hours greater than 0 and at most 8760, with at most 6 decimal places")
	}
	return nil
}

func hoursOrZero(d decimal.Decimal) error {
	if d.IsZero() {
		return nil
	}
	return hours(d)
}

// MaxRevisionsCeiling bounds max_revisions: each revision is a few
// events in the order's history (docs/workflow.md, bounds).
const MaxRevisionsCeiling = 10

// revisions is a whole number of revision requests, 0 (none) to
// MaxRevisionsCeiling.
func revisions(d decimal.Decimal) error {
	if d.IsNegative() || d.GreaterThan(decimal.NewFromInt(MaxRevisionsCeiling)) || !d.IsInteger() {
		return fmt.Errorf("must be a whole number from 0 to %d", MaxRevisionsCeiling)
	}
	return nil
}

// Keys lists every known key with its default (the values of the system
// Ordem replaces).
var Keys = []Key{
	{PlatformFeePercentage, "5.0", "Percentual cobrado pela plataforma sobre o valor do serviço", "taxas", percentage},
	{ContestationFee, "10.00", "Taxa fixa de contestação bloqueada como garantia", "taxas", cents},
	{CancellationFeePercentage, "10.0", "Percentual de multa aplicado em cancelamentos", "taxas", percentage},
	{ConfirmationDeadlineHours, "36", "Prazo em horas para confirmação automática", "prazos", hours},
	{ProposalExpiryHours, "72", "Prazo em horas para uma negociação sem aceite expirar", "prazos", hours},
	{ConfirmationReminderHours, "12", "Antecedência em horas do lembrete antes da confirmação automática (0 desliga)", "prazos", hoursOrZero},
	{DisputeSLAHours, "48", "Horas de uma disputa na fila dos administradores até lembrá-los", "prazos", hours},
	{DisputeNegotiationHours, "72", "Horas em que as partes podem fazer um acordo antes de a disputa ir para a fila dos administradores (0: vai direto)", "prazos", hoursOrZero},
	{MaxRevisions, "2", "Pedidos de revisão permitidos por pedido", "prazos", revisions},
}

// Lookup returns the key named name.
func Lookup(name string) (Key, bool) {
	for _, k := range Keys {
		if k.Name == name {
			return k, true
		}
	}
	return Key{}, false
}

// Seed writes the default of every key that has no value yet and returns
// how many it wrote. Existing values are never touched.
func Seed(ctx context.Context, db postgres.DBTX) (int64, error) {
	var n int64
	for _, k := range Keys {
		tag, err := db.Exec(ctx, `
			INSERT INTO system_config (key, value, description, category) VALUES ($1, $2, $3, $4)
			ON CONFLICT (key) DO NOTHING`, k.Name, k.Default, k.Description, k.Category)
		if err != nil {
			return n, fmt.Errorf("seed system config %s: %w", k.Name, err)
		}
		n += tag.RowsAffected()
	}
	return n, nil
}

// Values is a reading of every key, with defaults for keys not yet stored.
type Values map[string]decimal.Decimal

// Load reads the current values.
func Load(ctx context.Context, db postgres.DBTX) (Values, error) {
	v := make(Values, len(Keys))
	for _, k := range Keys {
		v[k.Name] = decimal.RequireFromString(k.Default)
	}
	rows, err := db.Query(ctx, `SELECT key, value FROM system_config`)
	if err != nil {
		return nil, fmt.Errorf("load system config: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name, raw string
		if err := rows.Scan(&name, &raw); err != nil {
			return nil, fmt.Errorf("load system config: %w", err)
		}
		k, ok := Lookup(name)
		if !ok {
			continue
		}
		d, err := k.Validate(raw)
		if err != nil {
			return nil, fmt.Errorf("stored system config is invalid: %w", err)
		}
		v[name] = d
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load system config: %w", err)
	}
	return v, nil
}
