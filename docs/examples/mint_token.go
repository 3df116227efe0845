// Minting an edge-chat user token on your own backend, in Go with golang-jwt. See docs/auth.md.
// In a module of its own:
//
//	go mod init mint && go get github.com/golang-jwt/jwt/v5
//	SIGNING_KEY_FILE=private.pem go run . my-key-1 alice [lobby,random]  # RS256
//	SIGNING_KEY_FILE=ec.pem ALG=ES256 go run . my-key-2 alice           # ES256, EdDSA
//	SIGNING_SECRET=... ALG=HS256 go run . 2026-06 alice                 # AUTH_SECRETS
//
// ISSUER and AUDIENCE set `iss` and `aud` (when the worker has AUTH_ISSUER, AUTH_AUDIENCE).
package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MintToken signs a token for user with key: a private key (*rsa.PrivateKey for RS256,
// *ecdsa.PrivateKey for ES256, ed25519.PrivateKey for EdDSA) whose public half the worker finds
// in AUTH_JWKS_URL's set under kid, or for HS256 the secret ([]byte) that the worker's
// AUTH_SECRETS lists under kid.
func MintToken(user, kid string, method jwt.SigningMethod, key any, rooms []string, issuer, audience string) (string, error) {
	now := time.Now()
	claims := jwt.MapClaims{"sub": user, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	if rooms != nil {
		claims["rooms"] = rooms
	}
	if issuer != "" {
		claims["iss"] = issuer
	}
	if audience != "" {
		claims["aud"] = audience
	}
	token := jwt.NewWithClaims(method, claims)
	token.Header["kid"] = kid
	return token.SignedString(key)
}

func signingKey(alg string) (any, error) {
	if alg == "HS256" {
		return []byte(os.Getenv("SIGNING_SECRET")), nil
	}
	pem, err := os.ReadFile(os.Getenv("SIGNING_KEY_FILE"))
	if err != nil {
		return nil, err
	}
	switch alg {
	case "RS256":
		return jwt.ParseRSAPrivateKeyFromPEM(pem)
	case "ES256":
		return jwt.ParseECPrivateKeyFromPEM(pem)
	case "EdDSA":
		return jwt.ParseEdPrivateKeyFromPEM(pem)
	}
	return nil, fmt.Errorf("unsupported ALG %q", alg)
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: go run . KID USER [ROOM,...]")
		os.Exit(2)
	}
	alg := os.Getenv("ALG")
	if alg == "" {
		alg = "RS256"
	}
	key, err := signingKey(alg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var rooms []string
	if len(os.Args) > 3 {
		rooms = strings.Split(os.Args[3], ",")
	}
	token, err := MintToken(os.Args[2], os.Args[1], jwt.GetSigningMethod(alg), key, rooms, os.Getenv("ISSUER"), os.Getenv("AUDIENCE"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(token)
}
