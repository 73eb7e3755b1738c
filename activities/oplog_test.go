package activities_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"

	"github.com/ordem/ordem/internal/logging"
	"github.com/ordem/ordem/internal/ordertest"
	"github.com/ordem/ordem/workflows/order"
)

// Ensure LOG_DIR's concern files get one line per committed step, the
// way the replaced system's operators grep them: every transition in
// worker-order-operations.log (order, from → to, actor, amounts; a
// replayed step adds nothing), and the deadline's work — the reminder and
// the release — in worker-auto-confirmation.log.
func TestOperationsLogFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	logger, closer, err := logging.New("worker", logging.Options{Level: "WARNING", Dir: dir, MaxBytes: 1 << 20, Backups: 1, Stderr: &bytes.Buffer{}})
	require.NoError(t, err)
	f := ordertest.New(t)
	r := newRun(t, f)
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(sdklog.NewStructuredLogger(logger))
	r.env = suite.NewTestActivityEnvironment()
	r.acts.Register(r.env)

	r.toDelivered("500.00", "123.45")
	c := r.confirm()
	r.must(c)
	r.replay(c)

	auto := newRun(t, f)
	auto.env = r.env // the same activities and logger
	auto.toDelivered("500.00", "100.00")
	deadline := *auto.st.ConfirmDeadline
	auto.now = deadline.Add(-12 * time.Hour)
	require.NoError(t, auto.exec(order.ActivitySendReminder,
		auto.reminder(order.ReminderConfirmation, "remind:"+deadline.UTC().Format("20060102T150405.000Z"), deadline), nil))
	auto.now = deadline
	_, err = auto.autoConfirm(auto.autoConfirmInput())
	require.NoError(t, err)
	require.NoError(t, closer.Close())

	read := func(name string) []map[string]any {
		raw, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err, name)
		var out []map[string]any
		sc := bufio.NewScanner(bytes.NewReader(raw))
		for sc.Scan() {
			var m map[string]any
			require.NoError(t, json.Unmarshal(sc.Bytes(), &m))
			out = append(out, m)
		}
		return out
	}
	var ops []string
	for _, m := range read("worker-order-operations.log") {
		if int64(m["order_id"].(float64)) == r.id {
			ops = append(ops, m["action"].(string)+":"+m["from"].(string)+">"+m["to"].(string))
		}
	}
	require.Equal(t, []string{"create:>negotiating", "accept:negotiating>in_progress",
		"deliver:in_progress>delivered", "confirm:delivered>completed"}, ops, "one line per step, none for the replay")
	var last map[string]any
	for _, m := range read("worker-order-operations.log") {
		if int64(m["order_id"].(float64)) == r.id {
			last = m
		}
	}
	require.Equal(t, "client:"+strconv.FormatInt(f.Client, 10), last["actor"])
	require.Equal(t, "123.45", last["amount"])
	require.Contains(t, last["legs"], "platform:revenue")

	var autoLines []string
	for _, m := range read("worker-auto-confirmation.log") {
		require.EqualValues(t, auto.id, m["order_id"])
		autoLines = append(autoLines, m["msg"].(string))
	}
	require.Len(t, autoLines, 2, "the reminder and the release: %v", autoLines)
	require.Contains(t, autoLines[0], "reminded")
	require.Contains(t, autoLines[1], "delivered → completed")
}
