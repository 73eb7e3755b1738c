package readbench

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/ordem/ordem/internal/postgres"
)

// selectList returns the INSERT column list and the matching SELECT
// expressions for table, built from the migrated schema as
// scripts/explain-orders.sh does: the schema keeps moving, so a known
// column that no longer exists is skipped, and an unknown NOT NULL column
// without a default gets its type's zero value.
func selectList(ctx context.Context, q postgres.DBTX, table string, known map[string]string) (cols, vals string, err error) {
	rows, err := q.Query(ctx, `
		SELECT column_name, is_nullable = 'YES', column_default IS NOT NULL, data_type
		FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`, table)
	if err != nil {
		return "", "", fmt.Errorf("read columns of %s: %w", table, err)
	}
	var (
		names, exprs []string
		name, typ    string
		null, hasDef bool
	)
	_, err = pgx.ForEachRow(rows, []any{&name, &null, &hasDef, &typ}, func() error {
		e, ok := known[name]
		if !ok && !null && !hasDef {
			if e, ok = zeroValue(typ); !ok {
				return fmt.Errorf("no value for NOT NULL column %s.%s of type %s", table, name, typ)
			}
		}
		if ok {
			names, exprs = append(names, name), append(exprs, e)
		}
		return nil
	})
	if err != nil {
		return "", "", fmt.Errorf("read columns of %s: %w", table, err)
	}
	if len(names) == 0 {
		return "", "", fmt.Errorf("table %s not found: is the database migrated?", table)
	}
	return strings.Join(names, ", "), strings.Join(exprs, ",\n\t       "), nil
}

func zeroValue(typ string) (string, bool) {
	switch typ {
	case "smallint", "integer", "bigint", "numeric", "real", "double precision":
		return "0", true
	case "text", "character varying", "character":
		return "''", true
	case "boolean":
		return "false", true
	case "jsonb", "json":
		return "'{}'", true
	case "timestamp with time zone", "timestamp without time zone", "date":
		return "now()", true
	case "uuid":
		return "gen_random_uuid()", true
	case "bytea":
		return "''::bytea", true
	}
	return "", false
}
