package testprovider

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/hashicorp/terraform-plugin-go/tftypes"
	"golang.org/x/crypto/bcrypt"
)

// The random resources are genuinely random (crypto/rand) and honour length, character
// classes and minimum counts the way hashicorp/random does.

const (
	charsLower   = "abcdefghijklmnopqrstuvwxyz"
	charsUpper   = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	charsNumeric = "0123456789"
	// The real provider's default special characters.
	charsSpecial = "!@#$%&*()-_=+[]{}<>:?"
)

func randIndex(n int) (int, error) {
	i, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
	if err != nil {
		return 0, err
	}
	return int(i.Int64()), nil
}

func randFrom(chars string, n int) ([]byte, error) {
	out := make([]byte, n)
	for i := range out {
		j, err := randIndex(len(chars))
		if err != nil {
			return nil, err
		}
		out[i] = chars[j]
	}
	return out, nil
}

// randomString builds a string of the requested length with at least the minimum count
// of each enabled class, then shuffles it.
func randomString(m map[string]tftypes.Value) (string, error) {
	length := int(intOr(m["length"], 0))
	if length < 1 {
		return "", errors.New("length must be at least 1")
	}
	special, _ := str(m["override_special"])
	if special == "" {
		if v, ok := m["override_special"]; !ok || v.IsNull() {
			special = charsSpecial
		}
	}
	numericOn := boolOr(m["numeric"], true) && boolOr(m["number"], true)
	classes := []struct {
		on    bool
		chars string
		min   int
	}{
		{boolOr(m["lower"], true), charsLower, int(intOr(m["min_lower"], 0))},
		{boolOr(m["upper"], true), charsUpper, int(intOr(m["min_upper"], 0))},
		{numericOn, charsNumeric, int(intOr(m["min_numeric"], 0))},
		{boolOr(m["special"], true), special, int(intOr(m["min_special"], 0))},
	}
	var all string
	var out []byte
	for _, c := range classes {
		if !c.on || c.chars == "" {
			continue
		}
		all += c.chars
		b, err := randFrom(c.chars, c.min)
		if err != nil {
			return "", err
		}
		out = append(out, b...)
	}
	if all == "" {
		return "", errors.New("every character class is disabled")
	}
	if len(out) > length {
		return "", fmt.Errorf("length %d is less than the sum of the min_* counts (%d)", length, len(out))
	}
	rest, err := randFrom(all, length-len(out))
	if err != nil {
		return "", err
	}
	out = append(out, rest...)
	for i := len(out) - 1; i > 0; i-- {
		j, err := randIndex(i + 1)
		if err != nil {
			return "", err
		}
		out[i], out[j] = out[j], out[i]
	}
	return string(out), nil
}

func randomPassword(f *filler, m map[string]tftypes.Value) error {
	s, err := randomString(m)
	if err != nil {
		return err
	}
	setStr(m, "result", s)
	setStr(m, "id", "none")
	if v, ok := m["bcrypt_hash"]; ok && !v.IsKnown() {
		h, err := bcrypt.GenerateFromPassword([]byte(s), bcrypt.MinCost)
		if err != nil {
			return err
		}
		setStr(m, "bcrypt_hash", string(h))
	}
	return nil
}

func randomStringRes(f *filler, m map[string]tftypes.Value) error {
	s, err := randomString(m)
	if err != nil {
		return err
	}
	setStr(m, "result", s)
	setStr(m, "id", s)
	return nil
}

func randomID(f *filler, m map[string]tftypes.Value) error {
	n := int(intOr(m["byte_length"], 0))
	if n < 1 {
		return errors.New("byte_length must be at least 1")
	}
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	prefix, _ := str(m["prefix"])
	b64url := base64.RawURLEncoding.EncodeToString(b)
	setStr(m, "b64_url", prefix+b64url)
	setStr(m, "b64_std", prefix+base64.StdEncoding.EncodeToString(b))
	setStr(m, "hex", prefix+hex.EncodeToString(b))
	setStr(m, "dec", prefix+new(big.Int).SetBytes(b).String())
	setStr(m, "id", b64url)
	return nil
}

func randomUUID(f *filler, m map[string]tftypes.Value) error {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	u := h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
	setStr(m, "result", u)
	setStr(m, "id", u)
	return nil
}

func randomInteger(f *filler, m map[string]tftypes.Value) error {
	lo, hi := intOr(m["min"], 0), intOr(m["max"], 0)
	if hi < lo {
		return fmt.Errorf("max (%d) is less than min (%d)", hi, lo)
	}
	r, err := rand.Int(rand.Reader, big.NewInt(hi-lo+1))
	if err != nil {
		return err
	}
	v := lo + r.Int64()
	setNum(m, "result", v)
	setStr(m, "id", fmt.Sprint(v))
	return nil
}

var petWords = []string{"adapted", "brave", "calm", "daring", "eager", "fair", "gentle", "happy", "keen", "lively",
	"badger", "cheetah", "dolphin", "eagle", "falcon", "gecko", "heron", "ibex", "jaguar", "koala", "lemur", "marmot"}

func randomPet(f *filler, m map[string]tftypes.Value) error {
	n := int(intOr(m["length"], 2))
	sep, ok := str(m["separator"])
	if !ok {
		sep = "-"
	}
	var parts []string
	if p, ok := str(m["prefix"]); ok && p != "" {
		parts = append(parts, p)
	}
	for i := 0; i < n; i++ {
		j, err := randIndex(len(petWords))
		if err != nil {
			return err
		}
		parts = append(parts, petWords[j])
	}
	setStr(m, "id", strings.Join(parts, sep))
	return nil
}

func randomShuffle(f *filler, m map[string]tftypes.Value) error {
	in := strList(m["input"])
	for i := len(in) - 1; i > 0; i-- {
		j, err := randIndex(i + 1)
		if err != nil {
			return err
		}
		in[i], in[j] = in[j], in[i]
	}
	if c := int(intOr(m["result_count"], int64(len(in)))); c < len(in) {
		in = in[:c]
	}
	vals := make([]tftypes.Value, len(in))
	for i, s := range in {
		vals[i] = newStr(s)
	}
	setComputed(m, "result", tftypes.NewValue(tftypes.List{ElementType: tftypes.String}, vals))
	setStr(m, "id", "-")
	return nil
}

func randomBytes(f *filler, m map[string]tftypes.Value) error {
	n := int(intOr(m["length"], 0))
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	setStr(m, "base64", base64.StdEncoding.EncodeToString(b))
	setStr(m, "hex", hex.EncodeToString(b))
	setStr(m, "id", "none")
	return nil
}
