package api_test

// Browser tests of the web console (web/): Debian's chromium, driven by
// chromedp, against the package's real stack (env.baseURL). Each user has
// a tab in its own browser context (own localStorage, so its own session).
// Everything a scenario is about happens through the UI; the API is used
// for setup the scenario is not about and to learn the exact messages the
// UI must show.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/api"
)

const chromiumPath = "/usr/bin/chromium"

// photoPNG is a real 160×120 PNG (tiles in two greys with a red mark), big
// enough to see as a thumbnail.
func photoPNG(t testing.TB) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 160, 120))
	for y := 0; y < 120; y++ {
		for x := 0; x < 160; x++ {
			c := color.RGBA{200, 200, 195, 255}
			if (x/20+y/20)%2 == 1 {
				c = color.RGBA{150, 150, 145, 255}
			}
			if x%20 == 0 || y%20 == 0 {
				c = color.RGBA{90, 90, 90, 255}
			}
			if x > 95 && x < 125 && y > 55 && y < 85 {
				c = color.RGBA{200, 30, 30, 255}
			}
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	require.NoError(t, png.Encode(&b, img))
	return b.Bytes()
}

// startBrowser starts one headless chromium for the test, or skips when
// there is none and ORDEM_REQUIRE_BROWSER is unset (CI sets it).
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("ORDEM_REQUIRE_BROWSER") == "" {
			t.Skipf("browser tests skipped: %s is not installed (apt-get install -y chromium); set ORDEM_REQUIRE_BROWSER=1 to make this a failure", chromiumPath)
		}
		t.Fatalf("ORDEM_REQUIRE_BROWSER is set but %s is missing: %v", chromiumPath, err)
	}
	if testing.Short() {
		t.Skip("browser tests need the real stack")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelBrowser(); cancelAlloc() })
	require.NoError(t, chromedp.Do(bctx), "starting chromium")
	return bctx
}

// tab is one user's browser tab, in a browser context of its own.
type tab struct {
	t    *testing.T
	name string
	ctx  context.Context
	mu   sync.Mutex
	// problems are uncaught exceptions and CSP refusals seen in the page.
	problems []string
}

func newTab(t *testing.T, browser context.Context, name string) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	ctx, cancelTimeout := context.WithTimeout(ctx, 15*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancel() })
	p := &tab{t: t, name: name, ctx: ctx}
	require.NoError(t, chromedp.Do(ctx), "opening a tab")
	go func() {
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			text := m.String()
			if m.IsException() || strings.Contains(text, "Content Security Policy") || strings.Contains(text, "Refused to") {
				p.mu.Lock()
				p.problems = append(p.problems, text)
				p.mu.Unlock()
			}
		}
	}()
	t.Cleanup(p.requireNoProblems)
	return p
}

func (p *tab) requireNoProblems() {
	p.mu.Lock()
	defer p.mu.Unlock()
	require.Empty(p.t, p.problems, "%s: page errors", p.name)
}

func (p *tab) do(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	require.NoError(p.t, chromedp.Do(p.ctx, actions...), p.name)
}

func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](p *tab, expr string, opts ...chromedp.EvaluateOption) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[T](expr, opts...))
	require.NoError(p.t, err, "%s: %s", p.name, expr)
	return v
}

// open loads a console path and waits for its page heading.
func (p *tab) open(path string) {
	p.t.Helper()
	p.do(chromedp.Navigate(env.baseURL + path))
	p.waitFor(`document.querySelector('main h1') !== null && document.querySelector('main .loading') === null`)
}

// waitFor polls a JavaScript predicate for up to 30 seconds. It polls
// from Go, one evaluation at a time, rather than with chromedp.Poll: a
// page that navigates (the console's links and redirects) destroys the
// execution context a running Poll lives in, which fails it with "Cannot
// find context with specified id" (chromedp issues 890, 1139). An
// evaluation lost that way is simply tried again.
func (p *tab) waitFor(predicate string) {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var lastErr error
	for time.Now().Before(deadline) {
		ok, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](`!!(`+predicate+`)`))
		if err == nil && ok {
			return
		}
		if err != nil {
			if p.ctx.Err() != nil {
				break
			}
			lastErr = err
		}
		time.Sleep(50 * time.Millisecond)
	}
	main := eval[string](p, `document.querySelector('main') ? document.querySelector('main').innerText : ''`)
	p.t.Fatalf("%s: waiting for %s (last error: %v)\npage at %s:\n%s", p.name, predicate, lastErr, eval[string](p, `location.href`), main)
}

// norm is the page's text as people read it: no-break spaces (which
// Intl puts in "R$ 1,00") become spaces.
const normJS = `.replace(/[\u00a0\u202f]/g, ' ').replace(/\s+/g, ' ').trim()`

// text is the normalised text of the first element matching sel.
func (p *tab) text(sel string) string {
	p.t.Helper()
	return eval[string](p, `(() => { const e = document.querySelector(`+js(sel)+`); return e ? e.textContent`+normJS+` : '<missing>'; })()`)
}

// waitText waits until sel's text contains want.
func (p *tab) waitText(sel, want string) {
	p.t.Helper()
	p.waitFor(`(() => { const e = document.querySelector(` + js(sel) + `); return !!e && e.textContent` + normJS + `.includes(` + js(want) + `); })()`)
}

// requireText checks that sel's text is exactly want.
func (p *tab) requireText(sel, want string) {
	p.t.Helper()
	p.waitText(sel, want)
	require.Equal(p.t, want, p.text(sel), "%s: %s", p.name, sel)
}

// fill sets a form control's value as typing would (input events fire).
func (p *tab) fill(sel, value string) {
	p.t.Helper()
	p.waitFor(`document.querySelector(` + js(sel) + `) !== null`)
	eval[bool](p, `(() => { const e = document.querySelector(`+js(sel)+`); e.value = ''; return true; })()`)
	p.do(chromedp.SendKeys(chromedp.CSS(sel), value))
}

func (p *tab) click(sel string) {
	p.t.Helper()
	p.waitFor(`(() => { const e = document.querySelector(` + js(sel) + `); return !!e && !e.disabled; })()`)
	p.do(chromedp.Click(chromedp.CSS(sel)))
}

// choose selects an option of a <select> and fires its change event.
func (p *tab) choose(sel, value string) {
	p.t.Helper()
	eval[bool](p, `(() => { const e = document.querySelector(`+js(sel)+`); e.value = `+js(value)+`; e.dispatchEvent(new Event('change', {bubbles: true})); return true; })()`)
}

// orderStatus waits for the order page to show status.
func (p *tab) orderStatus(status string) {
	p.t.Helper()
	p.waitFor(`(() => { const o = document.querySelector('#order'); return !!o && o.dataset.status === ` + js(status) + ` && document.querySelector('main .loading') === null; })()`)
}

func (p *tab) userID() string {
	p.t.Helper()
	return eval[string](p, `JSON.parse(localStorage.getItem('ordem.session')).user.id`)
}

func (p *tab) screenshot(name string) {
	p.t.Helper()
	png, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
	require.NoError(p.t, err)
	require.NoError(p.t, os.WriteFile(filepath.Join(screenshotDir(p.t), name), png, 0o644))
}

// screenshotDir is docs/screenshots when ORDEM_SCREENSHOTS is set (to
// refresh the committed pictures), a temporary directory otherwise.
func screenshotDir(t *testing.T) string {
	if os.Getenv("ORDEM_SCREENSHOTS") != "" {
		return filepath.Join("..", "docs", "screenshots")
	}
	dir := filepath.Join(os.TempDir(), "ordem-screenshots")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

// signUp registers through the sign-up page and lands on the dashboard.
func (p *tab) signUp(role, name string) string {
	p.t.Helper()
	email := fmt.Sprintf("%s-%d@console.test", role, rand.Int64())
	p.open("/signup")
	p.fill(`#signup-form input[name=name]`, name)
	p.fill(`#signup-form input[name=email]`, email)
	p.fill(`#signup-form input[name=phone]`, "11988887777")
	p.fill(`#signup-form input[name=password]`, "senha-forte-123")
	p.choose(`#signup-form select[name=role]`, role)
	p.click(`#signup-form button[type=submit]`)
	p.waitFor(`document.querySelector('#dashboard-` + role + `') !== null`)
	return email
}

// pickProvider searches the new-order form's provider directory for query
// and picks the provider with id, whose name is then shown as chosen.
func (p *tab) pickProvider(query, id, name string) {
	p.t.Helper()
	p.fill("#provider-search", query)
	p.click(`#provider-results button[data-provider="` + id + `"]`)
	p.waitText("#provider-chosen", name)
}

func (p *tab) logIn(email, password, role string) {
	p.t.Helper()
	p.open("/login")
	p.fill(`#login-form input[name=email]`, email)
	p.fill(`#login-form input[name=password]`, password)
	p.click(`#login-form button[type=submit]`)
	p.waitFor(`document.querySelector('#dashboard-` + role + `') !== null`)
}

// brl writes an amount as pt-BR shows it: "R$ 1.234,56".
func brl(d decimal.Decimal) string {
	s := d.StringFixed(2)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	for i, r := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte('.')
		}
		b.WriteRune(r)
	}
	out := "R$ " + b.String() + "," + frac
	if neg {
		out = "-" + out
	}
	return out
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// fee is pct% of amount, half-up to the cent (the money package's rule).
func fee(amount decimal.Decimal, pct string) decimal.Decimal {
	return amount.Mul(dec(pct)).Div(decimal.NewFromInt(100)).Round(2)
}

// orderOf reads an order through the API (terms to compute expectations).
func orderOf(t *testing.T, s session, id string) api.Order {
	t.Helper()
	res := env.call(t, "GET", "/v1/orders/"+id, s.Token, nil)
	require.Equal(t, 200, res.Status, string(res.Body))
	var o api.Order
	res.json(t, &o)
	return o
}

func sessionOf(p *tab, email string) session {
	return session{ID: p.userID(), Token: eval[string](p, `JSON.parse(localStorage.getItem('ordem.session')).token`), Email: email}
}

func TestConsole(t *testing.T) {
	skipShort(t)
	browser := startBrowser(t)
	admin := newTab(t, browser, "admin")
	admin.logIn(env.cfg.AdminEmail, adminPassword, "admin")

	t.Run("served with a strict CSP and no inline code", func(t *testing.T) {
		res, err := http.Get(env.baseURL + "/orders/1")
		require.NoError(t, err)
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		require.Equal(t, 200, res.StatusCode)
		require.Equal(t, "no-cache", res.Header.Get("Cache-Control"))
		require.Contains(t, res.Header.Get("Content-Security-Policy"), "script-src 'self'")
		require.Contains(t, string(body), `<script type="module" src="/assets/`)
		// The API keeps answering JSON where the console is mounted.
		res, err = http.Get(env.baseURL + "/v1/nothing-here")
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, 404, res.StatusCode)
		require.Contains(t, res.Header.Get("Content-Type"), "application/json")
	})

	t.Run("money in integer cents, in the browser", func(t *testing.T) {
		// web/static/money.js, loaded by the page as the console loads it.
		got := eval[string](admin, `(async () => {
			const src = document.querySelector('script[type=module]').src.replace('app.js', 'money.js');
			const m = await import(src);
			return JSON.stringify([
				m.parseInput('1.234,56'), m.parseInput('1234,5'), m.parseInput('1.234'), m.parseInput('0,001'),
				m.parseInput('1,234.56', 'en'), m.parseInput('1,234', 'en'), m.parseInput('doze'),
				m.fromCents(m.percentOf(m.toCents('1234.56'), '5')), m.fromCents(m.percentOf(m.toCents('0.10'), '5')),
				m.fromCents(m.percentOf(m.toCents('999999999999.99'), '12.3456')),
				m.resolution('1000.00', '400.00', '5', '10.00'), m.resolution('1000.00', '0.00', '5', '10.00'),
				m.resolution('1000.00', '1000.01', '5', '10.00'),
				m.format('1234.56', 'pt-BR', 'BRL'), m.format('999999999999.99', 'pt-BR', 'BRL'), m.format('-0.01', 'en', 'BRL'),
			]).replace(/[\u00a0\u202f]/g, ' ');
		})()`, chromedp.EvalAwaitPromise)
		// 999,999,999,999.99 × 12.3456% = 123,455,999,999.99876544 → 123,456,000,000.00 (half-up)
		want := `["1234.56","1234.50","1234.00",null,"1234.56","1234.00",null,"61.73","0.01","123456000000.00",` +
			`{"refund":"400.00","toClient":"410.00","providerShare":"570.00","platformFee":"30.00","toPlatform":"30.00","contestFeeReturned":true},` +
			`{"refund":"0.00","toClient":"0.00","providerShare":"950.00","platformFee":"50.00","toPlatform":"60.00","contestFeeReturned":false},` +
			`null,"R$ 1.234,56","R$ 999.999.999.999,99","-R$0.01"]`
		require.Equal(t, want, got)
	})

	t.Run("order from creation to confirmation through the UI", func(t *testing.T) {
		client := newTab(t, browser, "client")
		provider := newTab(t, browser, "provider")
		clientEmail := client.signUp("client", "Clara Cliente")
		provider.signUp("provider", "Pedro Prestador")
		clientID, providerID := client.userID(), provider.userID()
		cs := sessionOf(client, clientEmail)

		// The admin credits the client's deposit in the admin console.
		admin.open("/admin/deposits")
		admin.fill("#deposit-form input[name=user_id]", clientID)
		admin.fill("#deposit-form input[name=amount]", "1.500,00")
		admin.fill("#deposit-form input[name=reference]", fmt.Sprintf("pix-%d", rand.Int64()))
		admin.fill("#deposit-form input[name=reason]", "PIX conferido no extrato")
		admin.click("#deposit-form button[type=submit]")
		admin.waitText("#status", "Depósito de R$ 1.500,00 creditado.")

		client.open("/")
		client.requireText("#balance-available", "R$ 1.500,00")
		client.requireText("#balance-blocked", "R$ 0,00")

		// The client orders; the provider counter-proposes; the client accepts.
		client.open("/orders/new")
		client.pickProvider("pedro prestador", providerID, "Pedro Prestador")
		client.fill("#new-order input[name=title]", "Pintura da sala")
		client.fill("#new-order textarea[name=description]", "Duas demãos, parede de 12 m²")
		client.fill("#new-order input[name=amount]", "1.234,56")
		client.click("#new-order button[type=submit]")
		client.orderStatus("negotiating")
		orderID := strings.TrimPrefix(eval[string](client, `location.pathname`), "/orders/")
		client.requireText("#order-amount", "R$ 1.234,56")
		client.waitText("#deadline", "proposta expira em ")
		// The parties by name, on the order and in the list.
		client.requireText("#order-client", "Clara Cliente")
		client.requireText("#order-provider", "Pedro Prestador")
		client.open("/orders")
		client.waitText("#orders", "Pedro Prestador")

		provider.open("/")
		provider.waitText("#awaiting", "#"+orderID+" Pintura da sala")
		provider.waitText("#awaiting", "com Clara Cliente")
		provider.waitText("#awaiting", "proposta expira em ")
		provider.screenshot("provider-dashboard.png")
		provider.open("/orders/" + orderID)
		provider.orderStatus("negotiating")
		provider.fill("#propose-amount", "1.300,00")
		provider.fill(`form[data-action=propose] textarea[name=note]`, "Inclui massa corrida")
		provider.click("#do-propose")
		provider.waitText("#proposals", "R$ 1.300,00")
		provider.waitText("#proposals", "Inclui massa corrida")

		client.open("/orders/" + orderID)
		client.requireText("#order-amount", "R$ 1.300,00")
		client.waitText(`form[data-action=accept]`, "Ao aceitar, R$ 1.300,00 ficam bloqueados na sua carteira até a confirmação.")
		client.click("#do-accept")
		client.orderStatus("in_progress")
		o := orderOf(t, cs, orderID)
		amount := dec("1300.00")
		penalty := fee(amount, o.Terms.CancellationFeePercentage)
		// The penalty is shown before any cancellation is confirmed.
		client.requireText("#cancel-penalty", "Cancelar agora custa "+brl(penalty)+" de multa.")
		client.open("/wallet")
		client.requireText("#balance-available", brl(dec("1500.00").Sub(amount)))
		client.requireText("#balance-blocked", brl(amount))

		provider.open("/orders/" + orderID)
		provider.click("#do-deliver")
		provider.orderStatus("delivered")

		client.open("/")
		client.waitText("#awaiting", "#"+orderID+" Pintura da sala")
		client.waitText("#awaiting", "com Pedro Prestador")
		client.waitText("#awaiting", "confirma automaticamente em ")
		client.screenshot("client-dashboard.png")
		client.open("/orders/" + orderID)
		client.orderStatus("delivered")
		client.waitText("#deadline", "confirma automaticamente em ")
		require.Regexp(t, `^confirma automaticamente em (\d+ d \d+ h|\d+ h \d+ min|\d+ min \d+ s|\d+ s)$`, client.text("#deadline"))
		client.click("#do-confirm")
		client.orderStatus("completed")
		client.waitText("#timeline", "Confirmado")
		client.waitText("#timeline", "Proposta aceita")
		client.requireText("#no-actions", "Nenhuma ação disponível para você agora.")

		platformFee := fee(amount, o.Terms.PlatformFeePercentage)
		providerNet := amount.Sub(platformFee)
		client.open("/wallet")
		client.requireText("#balance-available", brl(dec("1500.00").Sub(amount)))
		client.requireText("#balance-blocked", "R$ 0,00")
		provider.open("/wallet")
		provider.requireText("#balance-available", brl(providerNet))
		provider.requireText("#balance-blocked", "R$ 0,00")
		provider.open("/")
		provider.requireText("#earnings", brl(providerNet))

		// The provider asks for a payout; the admin marks it paid.
		payout := dec("235.00")
		provider.open("/wallet")
		provider.fill("#payout-form input[name=amount]", "235,00")
		provider.click("#payout-form button[type=submit]")
		provider.waitText("#status", "Saque pedido.")
		provider.requireText("#balance-available", brl(providerNet.Sub(payout)))
		admin.open("/admin/payouts")
		formSel := fmt.Sprintf(`tr[data-user="%s"] form`, providerID)
		admin.waitFor(`document.querySelector(` + js(formSel) + `) !== null`)
		admin.fill(formSel+" input[name=ref]", "E2E-PIX-0001")
		admin.fill(formSel+" input[name=reason]", "PIX enviado")
		admin.click(formSel + " button[name=paid]")
		admin.waitText("#status", "Feito.")
		provider.open("/wallet")
		provider.waitText("#wallet", "Pago")

		// Language: English renders and is remembered; then back to pt-BR.
		client.open("/wallet")
		client.choose("#lang", "en")
		client.waitText("main h1", "Wallet")
		client.requireText("#balance-available", strings.Replace(strings.Replace(strings.Replace(
			brl(dec("1500.00").Sub(amount)), "R$ ", "R$", 1), ".", ",", -1), ",00", ".00", 1))
		client.open("/")
		client.requireText("main h1", "Dashboard")
		client.waitText("#dashboard-client", "Waiting for you")
		client.choose("#lang", "pt-BR")
		client.requireText("main h1", "Painel")

		admin.open("/orders/" + orderID)
		admin.requireText("#order-client", "Clara Cliente")
		admin.requireText("#order-provider", "Pedro Prestador")
		admin.waitFor(`document.querySelector('#workflow-link') !== null`)
		href := eval[string](admin, `document.querySelector('#workflow-link').href`)
		require.Equal(t, env.cfg.TemporalUIURL+"/namespaces/"+env.cfg.TemporalNamespace+"/workflows/order-"+orderID, href)
		admin.screenshot("admin-order.png")
	})

	t.Run("contested order: evidence, ruling with a split, both wallets", func(t *testing.T) {
		client := newTab(t, browser, "client")
		provider := newTab(t, browser, "provider")
		clientEmail := client.signUp("client", "Carla Contesta")
		providerEmail := provider.signUp("provider", "Paulo Pedreiro")
		cs, ps := sessionOf(client, clientEmail), sessionOf(provider, providerEmail)
		// Setup the scenario is not about: funds, order, accept, deliver.
		env.fund(t, cs, "1100.00")
		o := env.newOrder(t, cs, ps, "1000.00")
		for _, step := range []struct {
			s      session
			action string
		}{{ps, "accept"}, {ps, "deliver"}} {
			res := env.act(t, step.s, o.ID, step.action, nil)
			require.Equal(t, 200, res.Status, string(res.Body))
		}
		amount, contestFee := dec("1000.00"), o.Terms.ContestationFee.Decimal

		client.open("/orders/" + o.ID)
		client.orderStatus("delivered")
		client.waitText(`form[data-action=contest]`, "Contestar retém a taxa de contestação de "+brl(contestFee))
		client.fill("#contest-reason", "O serviço ficou incompleto: faltou o rejunte")
		client.click("#do-contest")
		client.orderStatus("disputed")

		// Evidence through the file input, with a progress bar on the way.
		pic := filepath.Join(t.TempDir(), "rejunte.png")
		picture := photoPNG(t)
		require.NoError(t, os.WriteFile(pic, picture, 0o644))
		client.do(chromedp.SetUploadFiles(chromedp.CSS("#evidence-file"), []string{pic}))
		client.fill("#evidence-description", "Foto do banheiro")
		// Record what the progress indicator says while the file goes up.
		eval[bool](client, `(() => { const el = document.querySelector('#evidence-pct'); window.__pct = [];
			new MutationObserver(() => window.__pct.push(el.textContent)).observe(el, {childList: true, characterData: true, subtree: true});
			return true; })()`)
		client.click("#do-upload")
		client.waitText("#status", "Evidência enviada.")
		client.waitText("#evidence", "rejunte.png")
		client.waitText("#evidence", "Foto do banheiro")
		require.Contains(t, eval[[]string](client, `window.__pct`), "100%", "XHR upload progress reached 100%")
		client.waitText("#timeline", "Evidência anexada")
		client.screenshot("client-dispute.png")

		// No settlement: the provider asks for a ruling (issue 17; otherwise
		// the dispute enters the admins' queue when its negotiation window
		// ends). The admin finds it in the queue, downloads the evidence
		// and rules.
		ruled := env.act(t, ps, o.ID, "request-ruling", nil)
		require.Equal(t, 200, ruled.Status, string(ruled.Body))
		admin.open("/admin/disputes")
		admin.waitText("#dispute-queue", "#"+o.ID)
		admin.waitText("#dispute-queue", "O serviço ficou incompleto: faltou o rejunte")
		admin.click(`#dispute-queue a[href="/orders/` + o.ID + `"]`)
		admin.orderStatus("disputed")
		admin.waitText("#evidence", "rejunte.png")
		// The picture is previewed inline: fetched from the same-origin
		// content route with the token, shown through a blob: URL the CSP
		// admits, decoded to its real size.
		thumb := `#evidence img[alt="Prévia de rejunte.png"]`
		admin.waitFor(`(() => { const i = document.querySelector(` + js(thumb) + `); return !!i && i.complete && i.naturalWidth > 0; })()`)
		require.Equal(t, 160, eval[int](admin, `document.querySelector(`+js(thumb)+`).naturalWidth`))
		require.Equal(t, 120, eval[int](admin, `document.querySelector(`+js(thumb)+`).naturalHeight`))
		thumbURL := eval[string](admin, `document.querySelector(`+js(thumb)+`).src`)
		require.True(t, strings.HasPrefix(thumbURL, "blob:"+env.baseURL+"/"), thumbURL)
		// What is shown is the picture uploaded: its red mark, read back
		// from the decoded image (the CSP lets nothing fetch the blob).
		require.Equal(t, []int{200, 30, 30, 255}, eval[[]int](admin, `(() => { const i = document.querySelector(`+js(thumb)+`);
			const c = document.createElement('canvas'); c.width = i.naturalWidth; c.height = i.naturalHeight;
			const g = c.getContext('2d'); g.drawImage(i, 0, 0); return Array.from(g.getImageData(110, 70, 1, 1).data); })()`))
		// The download button fetches a short-lived link and follows it:
		// record the link instead of leaving the page, and fetch it.
		eval[bool](admin, `(() => { window.__clicked = []; HTMLAnchorElement.prototype.click = function () { window.__clicked.push(this.href); }; return true; })()`)
		admin.click("#evidence button[data-evidence]")
		admin.waitFor(`window.__clicked.length === 1`)
		res, err := http.Get(eval[string](admin, `window.__clicked[0]`))
		require.NoError(t, err)
		got, _ := io.ReadAll(res.Body)
		res.Body.Close()
		require.Equal(t, 200, res.StatusCode)
		require.Equal(t, picture, got, "the downloaded evidence is the uploaded file")

		refund := dec("400.00")
		release := amount.Sub(refund)
		platformFee := fee(release, o.Terms.PlatformFeePercentage)
		admin.fill("#resolve-refund", "400,00")
		// The split is shown before the ruling is sent.
		admin.requireText("#split-client", brl(refund.Add(contestFee)))
		admin.requireText("#split-provider", brl(release.Sub(platformFee)))
		admin.requireText("#split-platform", brl(platformFee))
		admin.fill("#resolve-refund", "1.000,01")
		admin.waitText("#resolve-preview", "Informe um reembolso entre R$ 0,00 e R$ 1.000,00.")
		admin.fill("#resolve-refund", "400,00")
		admin.fill("#resolve-reason", "Rejunte não executado; 40% devolvido")
		admin.screenshot("admin-ruling.png")
		admin.click("#do-resolve")
		admin.orderStatus("resolved")
		// The page the preview was on is gone: its object URL is revoked.
		require.Equal(t, "revoked", eval[string](admin, `new Promise((done) => { const i = new Image();
			i.onload = () => done('alive'); i.onerror = () => done('revoked'); i.src = `+js(thumbURL)+`; })`, chromedp.EvalAwaitPromise))
		admin.waitText("#timeline", "Disputa decidida")
		admin.requireText("#outcome dd:nth-of-type(1)", brl(release.Sub(platformFee)))

		client.open("/wallet")
		client.requireText("#balance-available", brl(dec("1100.00").Sub(amount).Sub(contestFee).Add(refund).Add(contestFee)))
		client.requireText("#balance-blocked", "R$ 0,00")
		client.waitText("#wallet", "Decisão da disputa")
		provider.open("/wallet")
		provider.requireText("#balance-available", brl(release.Sub(platformFee)))
		provider.requireText("#balance-blocked", "R$ 0,00")
	})

	t.Run("evidence previews: video inline, PDF in a new tab", func(t *testing.T) {
		p := newParties(t)
		orderID := p.orderIn(t, "disputed")
		for _, u := range []upload{{name: "entrega.mp4", data: mp4File()}, {name: "laudo.pdf", data: pdfFile()}} {
			res := u.send(t, p.client, orderID)
			require.Equal(t, 201, res.Status, string(res.Body))
		}
		items := listEvidence(t, p.client, orderID)
		require.Len(t, items, 2)
		ids := map[string]string{}
		for _, e := range items {
			ids[e.FileName] = e.ID
		}
		admin.open("/orders/" + orderID)
		admin.orderStatus("disputed")
		admin.choose("#lang", "en")
		admin.waitText("#evidence", "entrega.mp4")
		video := `#evidence button[data-evidence-preview="` + ids["entrega.mp4"] + `"]`
		admin.waitText(video, "Preview")
		admin.click(video)
		admin.waitFor(`(() => { const v = document.querySelector('#evidence video'); return !!v && v.src.startsWith('blob:'); })()`)
		admin.requireText(video, "Hide preview")
		require.Equal(t, "Preview of entrega.mp4", eval[string](admin, `document.querySelector('#evidence video').getAttribute('aria-label')`))
		admin.click(video)
		admin.waitFor(`document.querySelector('#evidence video').parentElement.hidden`)
		// The PDF opens in a new tab: record the link instead of opening it.
		eval[bool](admin, `(() => { window.__opened = []; HTMLAnchorElement.prototype.click = function () { window.__opened.push([this.href, this.target]); }; return true; })()`)
		admin.click(`#evidence button[data-evidence-preview="` + ids["laudo.pdf"] + `"]`)
		admin.waitFor(`window.__opened.length === 1`)
		opened := eval[[]string](admin, `window.__opened[0]`)
		require.True(t, strings.HasPrefix(opened[0], "blob:"), opened[0])
		require.Equal(t, "_blank", opened[1])
		admin.choose("#lang", "pt-BR")
		admin.waitText(video, "Visualizar")
	})

	t.Run("refusals show the API's message", func(t *testing.T) {
		client := newTab(t, browser, "client")
		provider := newTab(t, browser, "provider")
		clientEmail := client.signUp("client", "Sem Saldo")
		providerEmail := provider.signUp("provider", "Prestador Paciente")
		cs, ps := sessionOf(client, clientEmail), sessionOf(provider, providerEmail)

		// A wrong password.
		other := newTab(t, browser, "stranger")
		other.open("/login")
		other.fill(`#login-form input[name=email]`, clientEmail)
		other.fill(`#login-form input[name=password]`, "not-the-password")
		other.click(`#login-form button[type=submit]`)
		// The console asks for its language (Accept-Language) and shows the
		// API's own words.
		other.requireText("#login-form .error", "E-mail ou senha incorretos.")
		other.choose("#lang", "en")
		other.fill(`#login-form input[name=email]`, clientEmail)
		other.fill(`#login-form input[name=password]`, "not-the-password")
		other.click(`#login-form button[type=submit]`)
		other.requireText("#login-form .error", "wrong e-mail or password")

		// Accepting an order the client cannot pay for: the provider's
		// accept is refused with insufficient_funds.
		client.open("/orders/new")
		client.pickProvider("Prestador Paciente", ps.ID, "Prestador Paciente")
		client.fill("#new-order input[name=title]", "Instalação elétrica")
		client.fill("#new-order input[name=amount]", "2.500,00")
		client.click("#new-order button[type=submit]")
		client.orderStatus("negotiating")
		orderID := strings.TrimPrefix(eval[string](client, `location.pathname`), "/orders/")
		provider.open("/orders/" + orderID)
		provider.click("#do-accept")
		provider.waitFor(`document.querySelector('form[data-action=accept] .error').textContent !== ''`)
		refused := env.call(t, "POST", "/v1/orders/"+orderID+"/accept", ps.Token,
			map[string]int{"proposal_version": env.proposalVersion(t, ps, orderID)}, "Accept-Language", "pt-BR")
		require.Equal(t, 402, refused.Status, string(refused.Body))
		var body struct {
			Error struct{ Code, Message string }
		}
		refused.json(t, &body)
		require.Equal(t, "insufficient_funds", body.Error.Code)
		require.Equal(t, "Saldo disponível insuficiente.", body.Error.Message)
		provider.requireText("form[data-action=accept] .error", body.Error.Message)
		provider.orderStatus("negotiating")

		// A money amount the console cannot read is caught before sending.
		client.open("/orders/new")
		client.pickProvider("paciente", ps.ID, "Prestador Paciente")
		client.fill("#new-order input[name=title]", "x")
		client.fill("#new-order input[name=amount]", "doze reais")
		client.click("#new-order button[type=submit]")
		client.requireText("#new-order .error", "Informe um valor como 1.234,56.")

		// A file type the API refuses, on a disputed order.
		env.fund(t, cs, "100.00")
		o := env.newOrder(t, cs, ps, "50.00")
		for _, a := range []struct {
			s      session
			action string
			body   any
		}{{ps, "accept", nil}, {ps, "deliver", nil}, {cs, "contest", map[string]string{"reason": "não entregue"}}} {
			res := env.act(t, a.s, o.ID, a.action, a.body)
			require.Equal(t, 200, res.Status, string(res.Body))
		}
		notes := filepath.Join(t.TempDir(), "notas.txt")
		require.NoError(t, os.WriteFile(notes, []byte("anotações"), 0o644))
		client.open("/orders/" + o.ID)
		client.orderStatus("disputed")
		client.do(chromedp.SetUploadFiles(chromedp.CSS("#evidence-file"), []string{notes}))
		client.click("#do-upload")
		client.waitFor(`document.querySelector('form[data-action=add_evidence] .error').textContent !== ''`)
		apiRefusal := upload{name: "notas.txt", data: []byte("anotações")}.send(t, cs, o.ID)
		require.Equal(t, 422, apiRefusal.Status, string(apiRefusal.Body))
		var e api.ErrorBody
		apiRefusal.json(t, &e)
		// What the API answers in pt-BR, as the console asked.
		msg, fields := ordem.Localize(&ordem.Error{Code: e.Error.Code, Message: e.Error.Message, Fields: e.Error.Fields}, "pt-BR")
		want := msg
		for k, v := range fields {
			want += " " + k + ": " + v
		}
		client.requireText("form[data-action=add_evidence] .error", want)
		client.requireText("#evidence p", "Nenhuma evidência ainda.")
		client.screenshot("client-refusal.png")
	})

	t.Run("admin tools: extend a deadline, edit config, deactivate a user", func(t *testing.T) {
		c, p := env.newUser(t, "client"), env.newUser(t, "provider")
		env.fund(t, c, "80.00")
		o := env.newOrder(t, c, p, "80.00")
		for _, a := range []string{"accept", "deliver"} {
			res := env.act(t, p, o.ID, a, nil)
			require.Equal(t, 200, res.Status, string(res.Body))
		}
		before := *orderOf(t, c, o.ID).ConfirmDeadline
		admin.open("/orders/" + o.ID)
		admin.orderStatus("delivered")
		admin.fill("#extend-hours", "24")
		admin.fill("#extend-reason", "Cliente viajando")
		admin.click("#do-extend_deadline")
		admin.waitText("#timeline", "Prazo estendido")
		after := *orderOf(t, c, o.ID).ConfirmDeadline
		require.Equal(t, 24*time.Hour, after.Sub(before).Round(time.Second))

		// The config editor: a value the key refuses shows the API's
		// reason; a valid one (the current value) is saved with a reason.
		admin.open("/admin/config")
		form := `form[data-key=confirmation_reminder_hours]`
		current := eval[string](admin, `document.querySelector('`+form+` input[name=value]').value`)
		admin.fill(form+" input[name=value]", "-1")
		admin.fill(form+" input[name=reason]", "teste")
		admin.click(form + " button[type=submit]")
		admin.waitFor(`document.querySelector('` + form + ` .error').textContent !== ''`)
		require.Contains(t, admin.text(form+" .error"), "value:")
		admin.fill(form+" input[name=value]", current)
		admin.fill(form+" input[name=reason]", "Revisão do lembrete")
		admin.click(form + " button[type=submit]")
		admin.waitText("#status", "Configuração salva.")
		res := env.call(t, "GET", "/v1/admin/config/confirmation_reminder_hours/changes", env.admin.Token, nil)
		require.Equal(t, 200, res.Status)
		require.Contains(t, string(res.Body), "Revisão do lembrete")

		// Deactivating a user ends their session.
		victim := env.newUser(t, "client")
		admin.open("/admin/users?role=client")
		row := `tr[data-user="` + victim.ID + `"]`
		admin.waitFor(`document.querySelector('` + row + `') !== null`)
		eval[bool](admin, `(() => { window.confirm = () => true; return true; })()`)
		admin.fill(row+" input[name=reason]", "Conta duplicada")
		admin.click(row + " button[type=submit]")
		admin.waitText(row, "desativado em")
		require.Equal(t, 401, env.call(t, "GET", "/v1/me", victim.Token, nil).Status)

		// The audit log page shows that deletion with its reason, filtered
		// by the object; in English too.
		admin.open("/admin/audit")
		admin.fill("#audit-filters input[name=object_type]", "user")
		admin.fill("#audit-filters input[name=object_id]", victim.ID)
		admin.click("#audit-filters button[type=submit]")
		admin.waitText("#audit tbody", "Conta duplicada")
		admin.waitText("#audit tbody", "delete_user")
		require.Equal(t, 1, eval[int](admin, `document.querySelectorAll('#audit tbody tr').length`))
		admin.requireText("main h1", "Auditoria")
		admin.choose("#lang", "en")
		admin.waitText("main h1", "Audit log")
		admin.waitText("#audit thead", "Before → after")
		admin.choose("#lang", "pt-BR")
		admin.waitText("main h1", "Auditoria")
	})

	t.Run("client cancels with the penalty shown first", func(t *testing.T) {
		c, p := env.newUser(t, "client"), env.newUser(t, "provider")
		env.fund(t, c, "200.00")
		o := env.newOrder(t, c, p, "100.00")
		res := env.act(t, p, o.ID, "accept", nil)
		require.Equal(t, 200, res.Status, string(res.Body))
		penalty := fee(dec("100.00"), o.Terms.CancellationFeePercentage)
		client := newTab(t, browser, "client")
		client.logIn(c.Email, "s3cret-password", "client")
		client.open("/orders/" + o.ID)
		client.orderStatus("in_progress")
		client.requireText("#cancel-penalty", "Cancelar agora custa "+brl(penalty)+" de multa.")
		client.click("#do-cancel")
		// A second, explicit step: nothing is cancelled yet.
		client.waitFor(`!document.querySelector('.confirm-step').hidden`)
		require.Equal(t, "in_progress", orderOf(t, c, o.ID).Status)
		client.fill("#cancel-reason", "Mudei de ideia")
		client.click("#do-cancel-confirm")
		client.orderStatus("cancelled")
		client.waitText("#timeline", "multa: "+brl(penalty))
		client.open("/wallet")
		client.requireText("#balance-available", brl(dec("200.00").Sub(penalty)))
		client.requireText("#balance-blocked", "R$ 0,00")

		// The client withdraws all that is left from the wallet page, as
		// providers do: the refund is not trapped.
		left := dec("200.00").Sub(penalty)
		client.fill("#payout-form input[name=amount]", strings.TrimPrefix(brl(left), "R$ "))
		client.click("#payout-form button[type=submit]")
		client.waitText("#status", "Saque pedido.")
		client.requireText("#balance-available", "R$ 0,00")
		client.waitText("#wallet", "Pendente")
		require.Equal(t, "0.00/0.00", env.wallet(t, c))
		res = env.call(t, "GET", "/v1/wallet/payouts", c.Token, nil)
		require.Equal(t, 200, res.Status)
		var payouts api.Page[api.Payout]
		res.json(t, &payouts)
		require.Len(t, payouts.Items, 1)
		require.Equal(t, left.StringFixed(2), payouts.Items[0].Amount.StringFixed(2))
		require.Equal(t, "pending", payouts.Items[0].Status)
		env.requireLedgerClean(t)
	})

	t.Run("notification inbox: unread count, mark one, mark all", func(t *testing.T) {
		c, p := env.newUser(t, "client"), env.newUser(t, "provider")
		env.fund(t, c, "100.00")
		o := env.newOrder(t, c, p, "60.00")
		for _, a := range []string{"accept", "deliver"} {
			res := env.act(t, p, o.ID, a, nil)
			require.Equal(t, 200, res.Status, string(res.Body))
		}
		inbox := func() api.NotificationPage {
			res := env.call(t, "GET", "/v1/notifications", c.Token, nil)
			require.Equal(t, 200, res.Status, string(res.Body))
			var page api.NotificationPage
			res.json(t, &page)
			return page
		}
		before := inbox()
		require.GreaterOrEqual(t, before.UnreadCount, int64(2))
		client := newTab(t, browser, "client")
		client.logIn(c.Email, "s3cret-password", "client")
		client.requireText("#unread-count", fmt.Sprint(before.UnreadCount))
		client.click("#inbox-link")
		client.waitText("main h1", "Notificações")
		first := before.Items[0]
		client.waitText(`#inbox li[data-notification="`+first.ID+`"]`, first.Title)
		client.click(`#inbox button[data-read="` + first.ID + `"]`)
		client.requireText("#unread-count", fmt.Sprint(before.UnreadCount-1))
		after := inbox()
		require.Equal(t, before.UnreadCount-1, after.UnreadCount)
		require.True(t, after.Items[0].Read)
		require.False(t, after.Items[1].Read)
		client.click("#read-all")
		client.waitText("#status", "Todas as notificações foram lidas.")
		client.requireText("#unread-count", "0")
		require.Equal(t, int64(0), inbox().UnreadCount)
		require.Equal(t, 0, eval[int](client, `document.querySelectorAll('#inbox button[data-read]').length`))
		client.choose("#lang", "en")
		client.waitText("main h1", "Notifications")
		client.choose("#lang", "pt-BR")

		// Settings: the language and time zone of the texts Ordem sends; a
		// zone the API refuses shows its own (pt-BR) words, nothing changes.
		client.open("/settings")
		client.choose("#settings-form select[name=locale]", "en")
		client.fill("#settings-form input[name=time_zone]", "Europe/Atlantis")
		client.click("#settings-form button[type=submit]")
		client.requireText("#settings-form .error", "Dados recusados. time_zone: deve ser um fuso horário IANA, como America/Sao_Paulo")
		got := me(t, c)
		require.Equal(t, []string{"pt-BR", "America/Sao_Paulo"}, []string{got.Locale, got.TimeZone})
		client.fill("#settings-form input[name=time_zone]", "Asia/Tokyo")
		client.click("#settings-form button[type=submit]")
		client.waitText("#status", "Settings saved.")
		client.requireText("main h1", "Settings")
		got = me(t, c)
		require.Equal(t, []string{"en", "Asia/Tokyo"}, []string{got.Locale, got.TimeZone})
		client.choose("#lang", "pt-BR")

		// Times show in the saved zone (Tokyo), not the browser's: the
		// inbox's time of the first notification.
		client.click("#inbox-link")
		sel := `#inbox li[data-notification="` + first.ID + `"] time`
		client.waitFor(`document.querySelector(` + js(sel) + `) !== null`)
		at := first.CreatedAt.UTC().Format(time.RFC3339Nano)
		inZone := func(zone string) string {
			return eval[string](client, `new Intl.DateTimeFormat('pt-BR', {dateStyle: 'short', timeStyle: 'short', timeZone: `+
				js(zone)+`}).format(new Date(`+js(at)+`))`)
		}
		require.NotEqual(t, "Asia/Tokyo", eval[string](client, `Intl.DateTimeFormat().resolvedOptions().timeZone`),
			"the browser's own zone must differ from the saved one for this check to mean anything")
		require.Equal(t, inZone("Asia/Tokyo"), client.text(sel))
	})

	t.Run("phone width and the admin dashboard", func(t *testing.T) {
		admin.open("/")
		admin.waitText("#dashboard-admin", "Taxa de confirmação automática")
		admin.waitText("#kpi-contest_rate", " de ")
		admin.screenshot("admin-dashboard.png")
		phone := newTab(t, browser, "phone")
		phone.do(chromedp.EmulateViewport(390, 844))
		phone.signUp("client", "Celular")
		phone.open("/orders/new")
		// Nothing wider than the screen: no sideways scrolling.
		require.LessOrEqual(t, eval[int](phone, `document.documentElement.scrollWidth`), 390)
		phone.screenshot("client-phone.png")
	})
}

// Ensure the account pages: a user changes their password (a weak one is
// refused with the rule's message; the other session ends) and sees and
// ends sessions; the admin issues a reset from the user list and sees the
// code once; the reset page consumes it, and the new password logs in.
func TestConsoleAccounts(t *testing.T) {
	skipShort(t)
	browser := startBrowser(t)
	u := env.newUser(t, "client")
	elsewhere := env.loginAs(u.Email, "s3cret-password")
	user := newTab(t, browser, "user")
	user.logIn(u.Email, "s3cret-password", "client")

	user.open("/account")
	// The tab's session, the API's two (newUser's and elsewhere).
	user.waitFor(`document.querySelectorAll('#sessions tr[data-session]').length === 3`)
	user.requireText("#sessions tr.current td:last-child", "Esta sessão")
	user.fill(`#password-form input[name=current_password]`, "s3cret-password")
	user.fill(`#password-form input[name=new_password]`, "iloveyou")
	user.click(`#password-form button[type=submit]`)
	user.waitText("#password-form .error", "Senha comum demais; escolha outra.")
	require.Equal(t, 200, env.call(t, "GET", "/v1/me", elsewhere.Token, nil).Status, "a refusal changes nothing")

	user.fill(`#password-form input[name=current_password]`, "s3cret-password")
	user.fill(`#password-form input[name=new_password]`, "console-new-pass-42")
	user.click(`#password-form button[type=submit]`)
	user.waitText("#status", "Senha trocada; 2 outras sessões encerradas.")
	require.Equal(t, 401, env.call(t, "GET", "/v1/me", elsewhere.Token, nil).Status)
	user.waitFor(`document.querySelectorAll('#sessions tr[data-session]').length === 1`)

	// One more session, ended from the list.
	again := env.loginAs(u.Email, "console-new-pass-42")
	user.open("/account")
	user.waitFor(`document.querySelectorAll('#sessions tr[data-session]').length === 2`)
	user.click(`#sessions tr[data-session]:not(.current) button[type=submit]`)
	user.waitFor(`document.querySelectorAll('#sessions tr[data-session]').length === 1`)
	require.Equal(t, 401, env.call(t, "GET", "/v1/me", again.Token, nil).Status)
	user.choose("#lang", "en")
	user.waitText("main h1", "My account")
	user.screenshot("account.png")
	user.choose("#lang", "pt-BR")

	// The admin resets the password from the user list; the code shows once.
	admin := newTab(t, browser, "admin")
	admin.logIn(env.cfg.AdminEmail, adminPassword, "admin")
	admin.open("/admin/users?role=client")
	link := `tr[data-user="` + u.ID + `"] a.reset-password`
	admin.waitFor(`document.querySelector('` + link + `') !== null`)
	admin.click(link)
	admin.waitFor(`document.querySelector('#issue-reset') !== null`)
	admin.click(`#issue-reset button[type=submit]`)
	admin.waitFor(`document.querySelector('#issue-reset .error').textContent !== ''`)
	require.Zero(t, countRows(t, `SELECT count(*) FROM password_resets WHERE user_id = $1`, u.uid()), "no reason, no reset")
	admin.fill(`#issue-reset input[name=reason]`, "Perdeu o acesso ao e-mail antigo")
	admin.click(`#issue-reset button[type=submit]`)
	admin.waitFor(`!document.querySelector('#reset-token').hidden`)
	token := admin.text("#reset-token code")
	require.NotEmpty(t, token)
	require.Equal(t, 1, countRows(t, `SELECT count(*) FROM audit_log WHERE action = 'password_reset_issued' AND target_id = $1
		AND reason = 'Perdeu o acesso ao e-mail antigo'`, u.ID))

	// The user, logged out by the reset, sets a new password with the code.
	anon := newTab(t, browser, "anonymous")
	anon.open("/login")
	anon.click("#reset-link")
	anon.waitFor(`document.querySelector('#reset-form') !== null`)
	anon.fill(`#reset-form input[name=token]`, token)
	anon.fill(`#reset-form input[name=new_password]`, "short")
	anon.click(`#reset-form button[type=submit]`)
	anon.waitText("#reset-form .error", "Senha curta demais.")
	anon.fill(`#reset-form input[name=new_password]`, "reset-by-console-42")
	anon.click(`#reset-form button[type=submit]`)
	anon.waitFor(`location.pathname === '/login'`)
	anon.waitText("#status", "Senha redefinida")
	require.Equal(t, 200, login(t, u.Email, "reset-by-console-42").Status)
	require.Equal(t, 401, login(t, u.Email, "console-new-pass-42").Status)
	// The user's tab: its session ended with the reset.
	user.open("/account")
	user.waitFor(`location.pathname === '/login'`)
}
