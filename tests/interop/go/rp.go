// An OpenID Connect relying party built on go-oidc (github.com/coreos/go-oidc, as Debian ships
// it) and golang.org/x/oauth2, run against a server on default settings: discovery, an
// identity-only code login through the login form (confidential client, no PKCE, no audience),
// the library's ID token and access-token-hash checks, userinfo, and a back-channel logout token
// verified with the library's verifier.
//
// Usage: rp -issuer URL -client ID -secret S -redirect URI -user U -password P -backchannel ADDR
package main

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	oidc "github.com/coreos/go-oidc"
	"golang.org/x/oauth2"
)

var (
	issuer      = flag.String("issuer", "", "issuer URL")
	clientID    = flag.String("client", "", "client_id")
	secret      = flag.String("secret", "", "client_secret")
	redirect    = flag.String("redirect", "", "registered redirect URI")
	username    = flag.String("user", "", "username")
	password    = flag.String("password", "", "password")
	backchannel = flag.String("backchannel", "", "host:port the registered backchannel_logout_uri points at")
)

var passed, failed int

func check(name string, err error) bool {
	if err != nil {
		failed++
		fmt.Printf("FAIL %s: %v\n", name, err)
		return false
	}
	passed++
	fmt.Printf("ok   %s\n", name)
	return true
}

func main() {
	flag.Parse()
	ctx := context.Background()
	logoutTokens := make(chan string, 4)
	go serveBackchannel(logoutTokens)

	provider, err := oidc.NewProvider(ctx, *issuer)
	if !check("discovery (issuer matches)", err) {
		finish()
	}
	cfg := oauth2.Config{
		ClientID: *clientID, ClientSecret: *secret, Endpoint: provider.Endpoint(), RedirectURL: *redirect,
		Scopes: []string{oidc.ScopeOpenID, "profile", "email"},
	}
	verifier := provider.Verifier(&oidc.Config{ClientID: *clientID})
	browser := newBrowser()

	state, nonce := "st-go-1", "n-go-1"
	code, err := login(browser, cfg.AuthCodeURL(state, oidc.Nonce(nonce)), state)
	if !check("identity-only login through the login form", err) {
		finish()
	}
	token, err := cfg.Exchange(ctx, code)
	if !check("code exchange (client_secret_basic, no PKCE)", err) {
		finish()
	}
	rawID, _ := token.Extra("id_token").(string)
	idt, err := verifier.Verify(ctx, rawID)
	if !check("ID token verified by go-oidc (signature, iss, aud, exp)", err) {
		finish()
	}
	check("nonce", expect(idt.Nonce == nonce, "nonce %q", idt.Nonce))
	check("at_hash (IDToken.VerifyAccessToken)", idt.VerifyAccessToken(token.AccessToken))
	var claims struct {
		Sid string   `json:"sid"`
		Acr string   `json:"acr"`
		Amr []string `json:"amr"`
	}
	check("ID token claims", idt.Claims(&claims))
	check("sid, acr and amr", expect(claims.Sid != "" && claims.Acr != "" && len(claims.Amr) == 1, "%+v", claims))

	info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(token))
	if check("userinfo", err) {
		var c struct {
			Email     string `json:"email"`
			GivenName string `json:"given_name"`
		}
		check("userinfo claims", info.Claims(&c))
		check("userinfo sub is the ID token's", expect(info.Subject == idt.Subject && c.Email != "", "%q %+v", info.Subject, c))
	}

	// RP-initiated logout in the same browser; the server then POSTs a logout token.
	resp, err := browser.Get(strings.TrimSuffix(*issuer, "/") + "/logout")
	if err == nil {
		resp.Body.Close()
	}
	check("logout", err)
	select {
	case raw := <-logoutTokens:
		checkLogoutToken(ctx, verifier, raw, idt.Subject, claims.Sid)
	case <-time.After(15 * time.Second):
		check("back-channel logout token received", errors.New("none within 15 s"))
	}
	_, err = login(browser, cfg.AuthCodeURL("st-go-2", oidc.Nonce("n-go-2"), oauth2.SetAuthURLParam("prompt", "none")), "st-go-2")
	check("prompt=none after logout is login_required", expect(err != nil && strings.Contains(err.Error(), "login_required"), "%v", err))
	finish()
}

func checkLogoutToken(ctx context.Context, v *oidc.IDTokenVerifier, raw, sub, sid string) {
	lt, err := v.Verify(ctx, raw)
	if !check("logout token verified by go-oidc (signature, iss, aud, exp)", err) {
		return
	}
	var c struct {
		Events map[string]map[string]any `json:"events"`
		Sid    string                    `json:"sid"`
		Jti    string                    `json:"jti"`
		Nonce  *string                   `json:"nonce"`
	}
	check("logout token claims", lt.Claims(&c))
	_, event := c.Events["http://schemas.openid.net/event/backchannel-logout"]
	check("logout token: event, sub, sid, jti, no nonce (Back-Channel Logout §2.6)",
		expect(event && len(c.Events) == 1 && lt.Subject == sub && c.Sid == sid && c.Jti != "" && c.Nonce == nil, "%+v sub=%q", c, lt.Subject))
	head, _ := base64URL(strings.Split(raw, ".")[0])
	check("logout token typ is logout+jwt", expect(strings.Contains(string(head), `"typ":"logout+jwt"`), "%s", head))
}

func serveBackchannel(out chan<- string) {
	mux := http.NewServeMux()
	mux.HandleFunc("/backchannel", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		out <- r.PostForm.Get("logout_token")
	})
	if err := http.ListenAndServe(*backchannel, mux); err != nil {
		fmt.Println("FAIL back-channel listener:", err)
		os.Exit(1)
	}
}

// newBrowser keeps cookies and stops at every redirect, as the tests follow them by hand.
func newBrowser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

var hidden = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// login follows the authorization request through the login form to the redirect URI and
// returns the code; an error response from the server is returned as an error.
func login(b *http.Client, authURL, state string) (string, error) {
	loc := authURL
	for i := 0; i < 5; i++ {
		if strings.HasPrefix(loc, *redirect) {
			return callback(loc, state)
		}
		resp, err := b.Get(absolute(loc))
		if err != nil {
			return "", err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusSeeOther:
			loc = resp.Header.Get("Location")
		case resp.StatusCode == http.StatusOK && strings.Contains(string(body), `name="password"`):
			form := url.Values{}
			for _, m := range hidden.FindAllStringSubmatch(string(body), -1) {
				form.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
			}
			form.Set("username", *username)
			form.Set("password", *password)
			resp, err := b.PostForm(absolute("/login"), form)
			if err != nil {
				return "", err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusSeeOther {
				return "", fmt.Errorf("login answered %d", resp.StatusCode)
			}
			loc = resp.Header.Get("Location")
		default:
			return "", fmt.Errorf("unexpected %d at %s", resp.StatusCode, loc)
		}
	}
	return "", errors.New("too many redirects")
}

func callback(loc, state string) (string, error) {
	u, err := url.Parse(loc)
	if err != nil {
		return "", err
	}
	q := u.Query()
	if e := q.Get("error"); e != "" {
		return "", fmt.Errorf("authorization error %s: %s", e, q.Get("error_description"))
	}
	if q.Get("state") != state || q.Get("iss") != *issuer {
		return "", fmt.Errorf("state or iss mismatch: %s", loc)
	}
	return q.Get("code"), nil
}

func absolute(loc string) string {
	if strings.HasPrefix(loc, "/") {
		return strings.TrimSuffix(*issuer, "/") + loc
	}
	return loc
}

func expect(ok bool, format string, args ...any) error {
	if ok {
		return nil
	}
	return fmt.Errorf(format, args...)
}

func base64URL(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

func finish() {
	fmt.Printf("go-oidc: %d passed, %d failed\n", passed, failed)
	if failed > 0 {
		os.Exit(1)
	}
	os.Exit(0)
}
