// Package faults is Ordem's fault suite. Its tests run the real binaries
// as separate processes — `ordem api`, `ordem worker`, the Temporal server
// (`ordem dev --temporal-only`), a private PostgreSQL cluster and an
// S3-compatible store — keep a steady stream of orders of every kind in
// flight with the load generator (internal/loadgen, clients retrying
// through outages with the same Idempotency-Key), inject one fault at a
// time (kill -9 of a process, a stopped database, a slow or cut
// connection, duplicate storms) and then check what the most trusted
// systems check after such runs: every order reached the state its actions
// imply, money is conserved to the cent across every wallet and platform
// account, `ordem ledger verify` passes, no posting is duplicated, and
// every retried request had exactly one effect.
//
// Everything listens on loopback and each test stops by itself. With
// ORDEM_WRITE_RELIABILITY=1 the run rewrites the table of
// docs/reliability.md from what it measured.
package faults
