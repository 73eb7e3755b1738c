package mail_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem/internal/config"
	"github.com/ordem/ordem/internal/mail"
)

func parse(t *testing.T, env map[string]string) *config.Config {
	t.Helper()
	cfg, err := config.Parse(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	require.NoError(t, err)
	return cfg
}

// Ensure ORDEM_ENV=dev logs each e-mail's recipient and subject, never
// its body or the SMTP password, and sends nothing, even with SMTP set.
func TestDevLogsInsteadOfSending(t *testing.T) {
	cfg := parse(t, map[string]string{"ORDEM_ENV": "dev", "SMTP_HOST": "smtp.example.com", "SMTP_USERNAME": "ordem",
		"SMTP_PASSWORD": "smtp-password-never-logged"})
	var buf bytes.Buffer
	s := mail.New(cfg, slog.New(slog.NewTextHandler(&buf, nil)))
	logged, err := s.Send(context.Background(), mail.Message{To: "cliente@example.com", Subject: "[Ordem] Confirme seu pedido",
		Body: "corpo com dados do pedido"})
	require.NoError(t, err)
	require.True(t, logged)
	out := buf.String()
	require.Contains(t, out, "cliente@example.com")
	require.Contains(t, out, "Confirme seu pedido")
	require.NotContains(t, out, "smtp-password-never-logged")
	require.NotContains(t, out, "corpo com dados")

	// Outside dev, no SMTP_HOST also logs.
	_, isLog := mail.New(parse(t, map[string]string{"ORDEM_ENV": "test"}), nil).(mail.LogSender)
	require.True(t, isLog)
}

// fakeSMTP is a tiny SMTP server: one message per connection, AUTH PLAIN
// accepted for user/pass, everything recorded.
type fakeSMTP struct {
	addr     string
	received chan received
}

type received struct {
	auth, from, to, data string
}

func startSMTP(t *testing.T, user, pass string) *fakeSMTP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	f := &fakeSMTP{addr: ln.Addr().String(), received: make(chan received, 4)}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go f.serve(conn, user, pass)
		}
	}()
	return f
}

func (f *fakeSMTP) serve(conn net.Conn, user, pass string) {
	defer conn.Close()
	r := bufio.NewReader(conn)
	say := func(s string) { _, _ = conn.Write([]byte(s + "\r\n")) }
	say("220 localhost ESMTP test")
	var got received
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		cmd := strings.ToUpper(line)
		switch {
		case strings.HasPrefix(cmd, "EHLO"):
			say("250-localhost")
			say("250 AUTH PLAIN")
		case strings.HasPrefix(cmd, "AUTH PLAIN"):
			raw, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(line[len("AUTH PLAIN"):]))
			got.auth = string(raw)
			if got.auth != "\x00"+user+"\x00"+pass {
				say("535 bad credentials")
				continue
			}
			say("235 ok")
		case strings.HasPrefix(cmd, "MAIL FROM:"):
			got.from = line[len("MAIL FROM:"):]
			say("250 ok")
		case strings.HasPrefix(cmd, "RCPT TO:"):
			got.to = line[len("RCPT TO:"):]
			say("250 ok")
		case cmd == "DATA":
			say("354 go on")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(l)
			}
			got.data = b.String()
			say("250 queued")
			f.received <- got
		case cmd == "QUIT":
			say("221 bye")
			return
		default:
			say("502 unknown")
		}
	}
}

// Ensure a message sent through SMTP arrives with its recipient, sender,
// encoded subject and body, after authenticating.
func TestSMTPDelivers(t *testing.T) {
	srv := startSMTP(t, "ordem", "smtp-secret")
	host, port, err := net.SplitHostPort(srv.addr)
	require.NoError(t, err)
	cfg := parse(t, map[string]string{"ORDEM_ENV": "test", "SMTP_HOST": host, "SMTP_PORT": port, "SMTP_USERNAME": "ordem",
		"SMTP_PASSWORD": "smtp-secret", "SMTP_FROM": "Ordem <no-reply@ordem.test>"})
	s := mail.New(cfg, nil)
	_, isSMTP := s.(*mail.SMTPSender)
	require.True(t, isSMTP)
	logged, err := s.Send(context.Background(), mail.Message{To: "cliente@example.com", Subject: "[Ordem] Confirme seu pedido",
		Body: "Pintura será confirmada automaticamente.\nConfirme ou conteste."})
	require.NoError(t, err)
	require.False(t, logged)
	got := <-srv.received
	require.Equal(t, "\x00ordem\x00smtp-secret", got.auth)
	require.Equal(t, "<no-reply@ordem.test>", got.from)
	require.Equal(t, "<cliente@example.com>", got.to)
	require.Contains(t, got.data, "To: <cliente@example.com>\r\n")
	require.Contains(t, got.data, "Subject: [Ordem] Confirme seu pedido\r\n")
	require.Contains(t, got.data, "Content-Type: text/plain; charset=utf-8\r\n")
	require.Contains(t, got.data, "\r\n\r\nPintura será confirmada automaticamente.\r\nConfirme ou conteste.\r\n")

	// A server that refuses the credentials is an error (retried later).
	bad := &mail.SMTPSender{Host: host, Port: mustAtoi(t, port), Username: "ordem", Password: "wrong", From: "no-reply@ordem.test"}
	_, err = bad.Send(context.Background(), mail.Message{To: "x@example.com", Subject: "s", Body: "b"})
	require.ErrorContains(t, err, "authenticate")
}

func mustAtoi(t *testing.T, s string) int {
	n, err := strconv.Atoi(s)
	require.NoError(t, err)
	return n
}

// Ensure SMTP settings are validated.
func TestSMTPConfig(t *testing.T) {
	_, err := config.Parse(func(k string) (string, bool) {
		v, ok := map[string]string{"ORDEM_ENV": "test", "SMTP_PORT": "70000", "SMTP_FROM": "not an address",
			"SMTP_USERNAME": "u"}[k]
		return v, ok
	})
	require.ErrorContains(t, err, "SMTP_PORT")
	require.ErrorContains(t, err, "SMTP_FROM")
	require.ErrorContains(t, err, "SMTP_PASSWORD")
}
